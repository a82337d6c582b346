"""The dataset health report: one static HTML page and the PNGs it shows.

No server, no CDN, no script: the page opens from disk in any browser.
Everything comes from one :func:`check_dataset` pass (findings, hashes and
per-image statistics); the linear-probe and label-issue figures are given
by the caller (``tools/dataset/report.py --config``).
"""
import html
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence

from ..check import BROKEN_KINDS, KINDS, CheckReport
from ..class_counts import plot_counts
from .measure import BLUR_BELOW, DARK_BELOW, STATS_SIDE

STYLE = ('body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}'
         'table{border-collapse:collapse;margin:.5em 0}'
         'td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}'
         '.error{color:#b00}.warning{color:#a60}.ok{color:#070}'
         'img{max-width:100%;border:1px solid #ddd;margin:.3em 0}')


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    head = ''.join(f'<th>{html.escape(str(h))}</th>' for h in header)
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(str(c))}</td>'
                                    for c in row) + '</tr>' for row in rows)
    return f'<table><tr>{head}</tr>{body}</table>'


def _list(paths: Sequence[str], limit: int = 20) -> str:
    if not paths:
        return '<p class="ok">none</p>'
    shown = ''.join(f'<li>{html.escape(p)}</li>' for p in paths[:limit])
    more = f'<li>... and {len(paths) - limit} more</li>' \
        if len(paths) > limit else ''
    return f'<ul>{shown}{more}</ul>'


def _split_of(path: str, layout: str) -> str:
    return path.split('/', 1)[0] if layout == 'split' else ''


def plot_sizes(report: CheckReport, out: str) -> None:
    """Scatter of widths and heights (as shown) per split, log axes."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), layout='constrained')
    by_split: Dict[str, list] = {}
    for path, stats in report.stats.items():
        by_split.setdefault(_split_of(path, report.layout), []).append(stats)
    for split, stats in sorted(by_split.items()):
        axes[0].scatter([s['width'] for s in stats],
                        [s['height'] for s in stats], s=8, alpha=0.6,
                        label=split or 'images')
        axes[1].hist([s['width'] / s['height'] for s in stats], bins=30,
                     alpha=0.6, label=split or 'images')
    axes[0].set(xscale='log', yscale='log', xlabel='width (px)',
                ylabel='height (px)', title='image sizes (as shown)')
    axes[1].set(xlabel='aspect ratio (width / height)', ylabel='images',
                title='aspect ratios')
    if by_split:
        for axis in axes:
            axis.legend()
    figure.savefig(out, dpi=80)
    plt.close(figure)


def plot_quality(report: CheckReport, out: str) -> None:
    """Brightness vs sharpness, with the thresholds drawn."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 4), layout='constrained')
    stats = list(report.stats.values())
    axis.scatter([s['brightness'] for s in stats],
                 [max(s['sharpness'], 1e-2) for s in stats], s=8, alpha=0.6)
    axis.axvline(DARK_BELOW, color='r', ls='--', label='dark below')
    axis.axhline(BLUR_BELOW, color='m', ls='--', label='blurred below')
    axis.set(yscale='log', xlabel='mean grey level (0-255)',
             ylabel=f'Laplacian variance ({STATS_SIDE} px)',
             title='brightness and sharpness')
    axis.legend()
    figure.savefig(out, dpi=80)
    plt.close(figure)


def _findings_section(report: CheckReport) -> str:
    rows = []
    for kind in KINDS:
        found = [f for f in report.findings if f.kind == kind]
        if found:
            severities = sorted({f.severity for f in found})
            rows.append((kind, '/'.join(severities), len(found),
                         KINDS[kind], found[0].paths[0]))
    return '<h2>Findings of check.py</h2>' + (
        _table(('kind', 'severity', 'count', 'what', 'e.g.'), rows)
        if rows else '<p class="ok">no findings</p>')


def _files_section(report: CheckReport, min_size: int) -> str:
    stats = report.stats
    kinds = Counter(f.kind for f in report.findings)
    formats = Counter(s['format'] for s in stats.values())
    dark = sorted(p for p, s in stats.items() if s['brightness'] < DARK_BELOW)
    blurred = sorted(p for p, s in stats.items()
                     if s['sharpness'] < BLUR_BELOW)
    broken = sorted(p for f in report.findings if f.kind in BROKEN_KINDS
                    and f.severity == 'error' for p in f.paths)
    small = sorted(p for f in report.findings if f.kind == 'too-small'
                   for p in f.paths)
    counts = [(k, kinds.get(k, 0)) for k in
              ('exif-rotated', 'grayscale', 'palette', 'alpha', 'cmyk',
               '16-bit')]
    return (
        '<h2>Files</h2>' + _table(('format', 'images'),
                                  sorted(formats.items())) +
        _table(('kind', 'images'), counts) +
        f'<h3>Broken files ({len(broken)})</h3>' + _list(broken) +
        f'<h3>Tiny images ({len(small)}): a side below {min_size} px</h3>' +
        _list(small) +
        f'<h3>Very dark images ({len(dark)}): mean grey level below '
        f'{DARK_BELOW:g} of 255</h3>' + _list(dark) +
        f'<h3>Blurred or flat images ({len(blurred)}): variance of the '
        f'Laplacian below {BLUR_BELOW:g} (grey, short side scaled to '
        f'{STATS_SIDE} px)</h3>' + _list(blurred) +
        '<img src="quality.png" alt="brightness and sharpness">')


def _duplicates_section(report: CheckReport, sheets: List[str]) -> str:
    groups = report.near_groups
    leaking = [g for g in groups
               if len({_split_of(p, report.layout) for p in g}) > 1]
    rows = [(n, len(g), ', '.join(g[:6]) + (' ...' if len(g) > 6 else ''))
            for n, g in enumerate(groups[:50])]
    images = ''.join(f'<img src="{html.escape(osp.basename(osp.dirname(s)))}'
                     f'/{html.escape(osp.basename(s))}" alt="group">'
                     for s in sheets)
    return (f'<h2>Near-duplicates: {len(groups)} group(s), '
            f'<span class="{"error" if leaking else "ok"}">{len(leaking)} '
            'span splits (leakage)</span></h2>' +
            (_table(('group', 'images', 'files'), rows) if rows else
             '<p class="ok">none</p>') + images)


def _probe_section(probe: Optional[dict]) -> str:
    if not probe:
        return ('<h2>Linear probe and label issues</h2><p>not run (give '
                '<code>--config</code>)</p>')
    rows = [(r.path, r.given, r.suggested, f'{r.score:.3f}')
            for r in probe['rows'][:30]]
    top1 = probe.get('val_top1')
    return ('<h2>Linear probe and label issues</h2>'
            f'<p>Linear-probe val top-1: '
            f'{"n/a" if top1 is None else f"{top1:.1f} %"}; '
            f'{len(probe["rows"])} suspected label issue(s) among '
            f'{probe["images"]} training images ({probe["folds"]} folds, '
            'out-of-fold, cleanlab).</p>' +
            _table(('path', 'given', 'suggested', 'p(given)'), rows) +
            ('<img src="suspects.png" alt="suspects">'
             if probe.get('grid') else ''))


def write_report(report: CheckReport, out_dir: str, min_size: int = 224,
                 probe: Optional[dict] = None,
                 max_sheets: int = 12) -> str:
    """Write ``out_dir/index.html`` and its PNGs.

    Args:
        report: A :func:`check_dataset` report made with ``stats=True``.
        out_dir: Output folder (created).
        min_size: The size under which images were called tiny.
        probe: ``{'val_top1', 'rows', 'images', 'folds', 'grid'}`` from the
            label-issue finder, or None.
        max_sheets: Contact sheets of near-duplicate groups drawn.

    Returns:
        The HTML path.
    """
    from ..duplicates import DuplicateReport, Item
    from .sheets import contact_sheets
    os.makedirs(out_dir, exist_ok=True)
    plot_counts(report.counts, osp.join(out_dir, 'counts.png'),
                'images per class and split')
    plot_sizes(report, osp.join(out_dir, 'sizes.png'))
    plot_quality(report, osp.join(out_dir, 'quality.png'))
    items, groups = [], []
    for group in report.near_groups[:max_sheets]:
        groups.append(list(range(len(items), len(items) + len(group))))
        items += [Item(p, _split_of(p, report.layout), p.split('/')[-2])
                  for p in group]
    sheets = contact_sheets(DuplicateReport(report.root, items, groups),
                            osp.join(out_dir, 'duplicates'), max_sheets)
    errors = len(report.open_errors)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<title>Health of {html.escape(report.root)}</title>'
        f'<style>{STYLE}</style></head><body>'
        f'<h1>Dataset health: {html.escape(report.root)}</h1>'
        f'<p>{report.files} files, '
        f'{sum(sum(c.values()) for c in report.counts.values())} loadable '
        f'images, layout {report.layout}. '
        f'<span class="{"error" if errors else "ok"}">{errors} error(s)'
        '</span> (check.py would exit '
        f'{report.exit_code}).</p>'
        '<h2>Classes</h2><img src="counts.png" alt="class counts">' +
        _table(('class', *(s or 'images' for s in report.counts)),
               [(name, *(report.counts[s].get(name, 0)
                         for s in report.counts))
                for name in sorted({n for c in report.counts.values()
                                    for n in c})]) +
        '<h2>Sizes</h2><img src="sizes.png" alt="sizes">' +
        _files_section(report, min_size) +
        _duplicates_section(report, sheets) + _probe_section(probe) +
        _findings_section(report) + '</body></html>')
    path = osp.join(out_dir, 'index.html')
    with open(path, 'w', encoding='utf-8') as file:
        file.write(page)
    return path
