"""Markdown tables of the real-photo benchmark (finetune_real.py)."""
import argparse
import os
import platform
from datetime import date
from statistics import mean, stdev
from typing import Dict, List, Sequence, Tuple

from common import mean_std, summarise

Comparison = Tuple[str, str, str, str]  # label, baseline, candidate, metric


def _paired(results: List[dict], base: str, cand: str,
            metric: str) -> List[Tuple[float, float]]:
    """(baseline, candidate) figures of the seeds both runs finished."""
    by_seed: Dict[int, Dict[str, float]] = {}
    for result in results:
        if result['name'] in (base, cand) and \
                isinstance(result.get(metric), (int, float)):
            by_seed.setdefault(result['seed'], {})[result['name']] = \
                result[metric]
    return [(pair[base], pair[cand]) for _, pair in sorted(by_seed.items())
            if len(pair) == 2]


def _comparison_rows(results: List[dict],
                     comparisons: Sequence[Comparison]) -> List[str]:
    lines = ['| comparison (candidate - baseline, paired by seed) | test | '
             'val | per-seed test differences | beats spread? |',
             '|---|---|---|---|---|']
    for label, base, cand, metric in comparisons:
        pairs = _paired(results, base, cand, metric)
        val_pairs = _paired(results, base, cand, 'val_top1')
        if not pairs:
            continue
        diffs = [c - b for b, c in pairs]
        val_diff = mean(c - b for b, c in val_pairs) if val_pairs else \
            float('nan')
        spread = max(stdev([b for b, _ in pairs]),
                     stdev([c for _, c in pairs])) if len(pairs) > 1 else 0
        verdict = 'yes' if mean(diffs) > spread else 'no'
        lines.append(
            f'| {label} | {mean(diffs):+.2f} | {val_diff:+.2f} | '
            f'{" ".join(f"{d:+.1f}" for d in diffs)} | {verdict} '
            f'(spread {spread:.2f}) |')
    return lines


def setting_markdown(results: List[dict], title: str, runs: Sequence[str],
                     comparisons: Sequence[Comparison]) -> List[str]:
    """Per-run table and paired comparisons of one setting.

    Args:
        results: The setting's per-run figures.
        title: Heading text.
        runs: Row names in table order.
        comparisons: (label, baseline, candidate, metric) of paired rows.

    Returns:
        Markdown lines.
    """
    table = summarise(results)
    lines = [f'#### {title}', '',
             '| run | test top-1 | val top-1 | test macro recall | s per run '
             '| kept (LP-FT) |', '|---|---|---|---|---|---|']
    for name in runs:
        if name not in table or 'top1' not in table[name]:
            continue
        row = table[name]
        kept = [r.get('kept') for r in results if r['name'] == name]
        kept_text = ', '.join(
            f'{what} {kept.count(what)}' for what in
            ('fine-tuned', 'interpolated', 'probe') if kept.count(what))
        lines.append(
            f'| `{name}` | {mean_std(row["top1"])} | '
            f'{mean_std(row["val_top1"])} | {mean_std(row["macro_recall"])} '
            f'| {mean(row["train_s"]):.0f} | {kept_text} |')
    return lines + [''] + _comparison_rows(results, comparisons) + ['']


def markdown(results: List[dict], args: argparse.Namespace,
             calls: List[dict], runs: Sequence[str],
             comparisons: Sequence[Comparison]) -> str:
    """The results as Markdown: setup, then one table per setting.

    Args:
        results: Per-run figures.
        args: Benchmark arguments.
        calls: ``{'runs', 'wall_s'}`` of each call that trained runs.
        runs: Row names in table order.
        comparisons: (label, baseline, candidate, metric) of paired rows.

    Returns:
        Markdown text.
    """
    seeds = sorted({r['seed'] for r in results})
    wall = sum(call['wall_s'] for call in calls) / 60
    loads = [r[key] for r in results for key in ('load_start', 'load_end')
             if key in r]
    load_text = (f'1-minute load average {min(loads):.1f} to '
                 f'{max(loads):.1f} at the starts and ends of runs'
                 if loads else 'load not recorded')
    lines = [
        f'Measured {date.today().isoformat()} by `python '
        f'tools/benchmark/finetune_real.py` on {platform.machine()}, '
        f'{os.cpu_count()} CPU cores shared with other jobs ({load_text}), '
        f'{args.jobs} runs at a time, 1 torch thread each: {wall:.1f} min '
        f'wall over {len(calls)} call(s) (an interrupted call is resumed, '
        'its finished runs kept).',
        '',
        'Data: Fashion-MNIST from the Debian package `dataset-fashion-mnist`'
        ' (real 28x28 product photos, 10 classes), exported by '
        '`tools/dataset/export_fashion_mnist.py`: N train (see each '
        'heading) and '
        f'{args.val_per_class} val images per class, both from the '
        '60,000-image train file; test: all 10,000 images of the test file '
        f'(never used for tuning), except at sizes above 128 px: a fixed '
        f'stratified subset of {args.large_test_per_class} per class (the '
        'same images for every run and seed, drawn with numpy seed 0). '
        f'Trained runs: batch {args.batch_size}, epochs as in each '
        f'heading. Seeds {", ".join(map(str, seeds))} (the seed '
        'picks the images and the training randomness). Figures: mean ± '
        'sample std over seeds, in %. The recipe was chosen on the val split '
        'of other (pilot) seeds, see docs/finetune.md. "kept (LP-FT)": '
        'which weights `LinearProbeHook` kept, per seed, the best on val of '
        'the fine-tuned model, the probe (stage 1) and their weight-space '
        'mixes (WiSE-FT, 0.25/0.5/0.75 of the fine-tuned weights).',
        '',
    ]
    settings = sorted({r['setting'] for r in results},
                      key=lambda s: tuple(int(p[1:]) for p in s.split('_')))
    for setting in settings:
        size, budget, epochs = (int(p[1:]) for p in setting.split('_'))
        lines += setting_markdown(
            [r for r in results if r['setting'] == setting],
            f'{budget} train images per class, {size} px, {epochs} epochs',
            runs, comparisons)
    return '\n'.join(lines)
