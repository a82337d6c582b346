"""Check an image-folder dataset before training on it.

Every file is read and decoded (in parallel) by :func:`inspect_file`, with
the loader's own image core. Findings are errors (the file or the dataset
would break or corrupt training) or warnings (training runs, but something
deserves a look). :mod:`fruit_ext.datasets.quarantine` moves broken files
out, with a manifest that puts them back.
"""
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing import Pool
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.utils import track_progress_rich
from rich.console import Console
from rich.table import Table

from .class_counts import Counts
from .duplicates import NearDupSettings
from .file_findings import ERROR, EXT_FORMATS, WARNING, inspect_file
from .fruit30 import IMG_EXTENSIONS, SPLITS
from .hidden import class_folders, describe_hidden, walk_visible
from .health.measure import measure_file, near_duplicate_findings
from .layout_check import layout_findings, skipped_files

__all__ = ['KINDS', 'Finding', 'CheckReport', 'check_dataset',
           'print_summary', 'inspect_file', 'find_splits']
#: Each kind of finding and what it means.
KINDS: Dict[str, str] = {
    'zero-byte': 'empty file (0 bytes)',
    'unreadable': 'image file that cannot be read or decoded',
    'truncated': 'image data cut short',
    'non-image': 'file that is not an image',
    'bomb': "larger than Pillow's decompression-bomb limit",
    'ext-mismatch': 'extension does not match the content',
    'grayscale': 'grayscale image (converted to 3 channels)',
    'palette': 'palette image (converted to RGB)',
    'alpha': 'transparency (composited on white by RobustLoadImageFromFile)',
    'cmyk': 'CMYK image (converted to RGB)',
    '16-bit': '16-bit or float pixels (scaled to 8 bits)',
    'exif-rotated': 'EXIF orientation: shown rotated or mirrored',
    'too-small': 'smaller than the pipeline input',
    'duplicate': 'identical files within a split',
    'leakage': 'identical files in train and val/test',
    'near-duplicate': 'near-duplicate images within a split',
    'near-leakage': 'near-duplicate images in train and val/test',
    'near-label-conflict': 'near-duplicate images with different labels',
    'class-mismatch': 'class folders differ between splits',
    'empty-class': 'class folder without loadable images',
    'imbalance': 'class imbalance',
    'no-classes': 'root or split folder without class folders',
    'loose-images': 'images in no class folder (ignored)',
    'skipped': 'files the dataset does not load (extension)',
    'hidden': "hidden files and folders (name starts with '.'), skipped",
}
#: Warnings printed in full (not only counted) by :func:`print_summary`.
SAID_WARNINGS = ('loose-images', 'skipped', 'hidden')
#: File findings a quarantine moves out of the dataset.
BROKEN_KINDS = ('zero-byte', 'unreadable', 'truncated', 'non-image', 'bomb')


@dataclass
class Finding:
    """One problem found.

    Args:
        kind: A key of :data:`KINDS`.
        severity: 'error' or 'warning'.
        message: What exactly is wrong.
        paths: The files (or class folders) concerned, relative to the root.
    """

    kind: str
    severity: str
    message: str
    paths: List[str] = field(default_factory=list)


@dataclass
class CheckReport:
    """Everything :func:`check_dataset` found.

    Args:
        root: The dataset root.
        layout: 'split' (``root/{train,val,test}/<class>``) or 'folder'
            (``root/<class>``).
        counts: Loadable images per split and class ('' is the only split
            of the folder layout).
        files: Number of files scanned.
        findings: The problems.
        quarantined: Files moved out by :func:`quarantine`.
        near_groups: Near-duplicate groups (paths), largest first.
        stats: Per-file statistics (path -> dict) when asked for; not
            written to the JSON report.
    """

    root: str
    layout: str
    counts: Counts
    files: int
    findings: List[Finding]
    quarantined: List[str] = field(default_factory=list)
    near_groups: List[List[str]] = field(default_factory=list)
    stats: Dict[str, dict] = field(default_factory=dict)

    @property
    def open_errors(self) -> List[Finding]:
        """Errors not resolved by a quarantine."""
        gone = set(self.quarantined)
        return [f for f in self.findings if f.severity == ERROR and not (
            f.kind in BROKEN_KINDS and set(f.paths) <= gone)]

    @property
    def exit_code(self) -> int:
        """1 when something would break or corrupt training, else 0."""
        return 1 if self.open_errors else 0

    def to_json(self, path: str) -> None:
        """Write the report as JSON.

        Args:
            path: File to write.
        """
        summary = {kind: sum(1 for f in self.findings if f.kind == kind)
                   for kind in KINDS}
        with open(path, 'w', encoding='utf-8') as file:
            plain = asdict(self)
            plain.pop('stats')
            json.dump(dict(plain, exit_code=self.exit_code,
                           summary={k: v for k, v in summary.items() if v}),
                      file, ensure_ascii=False, indent=1)


def find_splits(root: str) -> Dict[str, str]:
    """The split folders of a dataset.

    Args:
        root: Dataset root.

    Returns:
        ``{split: folder}``: train/val/test when any exists, else
        ``{'': root}`` (one folder per class directly under the root).

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(f'{root} is not a folder')
    found = {split: osp.join(root, split) for split in SPLITS
             if osp.isdir(osp.join(root, split))}
    return found or {'': root}


def _class_files(folder: str) -> Dict[str, List[str]]:
    return {name: walk_visible(osp.join(folder, name))[0]
            for name in class_folders(folder)}


def _inspect_all(paths: List[str], work, workers: int,
                 progress: bool) -> List[dict]:
    if progress and paths:
        return track_progress_rich(work, paths, nproc=workers,
                                   chunksize=8,
                                   description='Decoding images')
    if workers > 1:
        with Pool(workers) as pool:
            return pool.map(work, paths, chunksize=8)
    return [work(path) for path in paths]


def _dataset_findings(root: str, splits: Dict[str, Dict[str, List[str]]],
                      results: Dict[str, dict],
                      imbalance: float) -> Tuple[Counts, List[Finding]]:
    findings: List[Finding] = []

    def rel(path: str) -> str:
        return osp.relpath(path, root)

    counts: Counts = {}
    by_hash: Dict[str, Dict[str, List[Tuple[str, str]]]] = {}
    for split, classes in splits.items():
        counts[split] = {}
        for name, paths in classes.items():
            good = [p for p in paths if results[p]['loadable']]
            counts[split][name] = len(good)
            for path in good:
                by_hash.setdefault(results[path]['sha256'], {}).setdefault(
                    split, []).append((name, rel(path)))
            if not good:
                where = f'{split}/{name}' if split else name
                findings.append(Finding(
                    'empty-class', ERROR if split in ('', 'train') else
                    WARNING, f'class folder {where} holds no loadable image',
                    [where]))
    for copies in by_hash.values():
        for split, items in copies.items():
            if len(items) > 1:
                labels = sorted({name for name, _ in items})
                findings.append(Finding(
                    'duplicate', ERROR if len(labels) > 1 else WARNING,
                    f'{len(items)} identical files' + (
                        f' labelled as different classes {labels}'
                        if len(labels) > 1 else ''),
                    [path for _, path in items]))
        if len(copies) > 1:
            findings.append(Finding(
                'leakage', ERROR, 'the same image is in ' + ' and '.join(
                    sorted(copies)), [path for items in copies.values()
                                      for _, path in items]))
    all_classes = set().union(*(set(c) for c in splits.values()))
    for split, classes in splits.items():
        missing = sorted(all_classes - set(classes))
        if missing:
            findings.append(Finding(
                'class-mismatch', ERROR, f'{split}/ lacks class folders '
                f'{missing} that other splits have', [split]))
    for split in ('', 'train'):
        sizes = [n for n in counts.get(split, {}).values() if n]
        if sizes and max(sizes) > imbalance * min(sizes):
            per_class = counts[split]
            big = max(per_class, key=per_class.get)
            small = min((n for n in per_class if per_class[n]),
                        key=per_class.get)
            findings.append(Finding(
                'imbalance', WARNING,
                f'{big!r} has {per_class[big]} images, {small!r} only '
                f'{per_class[small]} (more than {imbalance:g}x)',
                [split or '.']))
    return counts, findings


def check_dataset(root: str,
                  min_size: int = 224,
                  workers: Optional[int] = None,
                  imbalance: float = 10.0,
                  extensions: Sequence[str] = IMG_EXTENSIONS,
                  progress: bool = True,
                  near_duplicates: bool = True,
                  near: Optional[NearDupSettings] = None,
                  near_severity: str = ERROR,
                  stats: bool = False) -> CheckReport:
    """Scan a dataset in either layout and report its problems.

    Args:
        root: ``root/{train,val[,test]}/<class>/`` or ``root/<class>/``.
        min_size: Images with a smaller side are reported as too small.
        workers: Decoding processes (all CPUs by default).
        imbalance: Warn when the largest class has more than this many times
            the images of the smallest.
        extensions: Extensions the dataset loads.
        progress: Show a progress bar.
        near_duplicates: Hash every image and report near-duplicate groups
            (``fruit_ext.datasets.duplicates``).
        near: How they are matched (None: the defaults of
            ``find_duplicates.py``, so both find the same groups).
        near_severity: Severity of near-duplicate groups that span splits
            or carry different labels ('error' or 'warning').
        stats: Keep per-image statistics in ``report.stats`` (for the
            health report).

    Returns:
        The report.
    """
    split_folders = find_splits(root)
    splits = {split: _class_files(folder)
              for split, folder in split_folders.items()}
    paths = [p for classes in splits.values() for files in classes.values()
             for p in files]
    near = near or NearDupSettings()
    work = partial(measure_file, min_size=min_size, extensions=extensions,
                   hashes=near.crop_steps if near_duplicates else None,
                   stats=stats) \
        if near_duplicates or stats else \
        partial(inspect_file, min_size=min_size, extensions=extensions)
    results = {result['path']: result for result in _inspect_all(
        paths, work, workers or os.cpu_count() or 1, progress)}
    findings = [Finding(kind, severity, message,
                        [osp.relpath(result['path'], root)])
                for result in results.values()
                for kind, severity, message in result['findings']]
    counts, dataset_findings = _dataset_findings(root, splits, results,
                                                 imbalance)
    extensions = tuple(e.lower() for e in extensions)
    dataset_findings += [Finding(*found) for found in layout_findings(
        root, split_folders, splits, extensions + tuple(EXT_FORMATS))]
    dataset_findings += [
        Finding('skipped', WARNING, f'{len(names)} file(s) skipped: {reason}'
                f' (the dataset loads {", ".join(extensions)})',
                [osp.relpath(p, root) for p in names])
        for reason, names in skipped_files(results, extensions).items()]
    hidden = walk_visible(root)[1]
    if hidden:
        dataset_findings.append(Finding('hidden', WARNING,
                                        describe_hidden(hidden, limit=0),
                                        hidden))
    near_groups = []
    if near_duplicates:
        dups, found = near_duplicate_findings(root, splits, results, near,
                                              near_severity)
        dataset_findings += [Finding(*f) for f in found]
        near_groups = [[dups.items[i].path for i in g] for g in dups.groups]
    return CheckReport(
        root=root, layout='folder' if '' in splits else 'split',
        counts=counts, files=len(paths),
        findings=findings + dataset_findings, near_groups=near_groups,
        stats={osp.relpath(p, root): r['stats'] for p, r in results.items()
               if 'stats' in r})


def print_summary(report: CheckReport,
                  console: Optional[Console] = None) -> None:
    """Print the findings grouped by kind, then every error.

    Args:
        report: What :func:`check_dataset` found.
        console: Where to print (stdout by default).
    """
    console = console or Console()
    images = sum(sum(c.values()) for c in report.counts.values())
    splits = [s for s in report.counts if s] or ['one folder per class']
    console.print(f'{report.root}: {report.files} files, {images} loadable '
                  f'images ({", ".join(splits)}).')
    table = Table(title='Findings')
    for column in ('kind', 'severity', 'count', 'e.g.'):
        table.add_column(column, overflow='fold')
    for kind in KINDS:
        found = [f for f in report.findings if f.kind == kind]
        for severity in (ERROR, WARNING):
            some = [f for f in found if f.severity == severity]
            if some:
                style = 'red' if severity == ERROR else 'yellow'
                table.add_row(kind, f'[{style}]{severity}[/{style}]',
                              str(len(some)), some[0].paths[0])
    if report.findings:
        console.print(table)
    errors = [f for f in report.findings if f.severity == ERROR]
    for finding in errors:
        console.print(f'[red]{finding.kind}[/red] '
                      f'{", ".join(finding.paths)}: {finding.message}',
                      soft_wrap=True)
    for finding in report.findings:  # files training will never see
        if finding.kind in SAID_WARNINGS and finding.severity == WARNING:
            console.print(f'[yellow]{finding.kind}[/yellow] {finding.message}'
                          f': {", ".join(finding.paths[:5])}'
                          + (' ...' if len(finding.paths) > 5 else ''),
                          soft_wrap=True, highlight=False)
    for path in report.quarantined:
        console.print(f'quarantined {path}', soft_wrap=True)
    if report.exit_code:
        console.print(f'[red]{len(report.open_errors)} error(s)[/red]: '
                      'fix them before training (broken files: --quarantine '
                      'DIR moves them out).')
    else:
        console.print('No errors' + (' left' if report.quarantined else '')
                      + f', {len(report.findings) - len(errors)} warning(s).')
