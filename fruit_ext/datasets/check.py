"""Check an image-folder dataset before training on it.

Every file is read and decoded (in parallel). Findings are errors (the file
or the dataset would break or corrupt training) or warnings (training runs,
but something deserves a look). Broken files can be moved to a quarantine
folder with a manifest that puts them back.
"""
import hashlib
import io
import json
import os
import os.path as osp
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.progress import track
from rich.table import Table

from .class_counts import Counts
from .fruit30 import IMG_EXTENSIONS, SPLITS
from .layout_check import layout_findings, skipped_files
from .transforms.decode import ALPHA_MODES, HIGH_DEPTH_MODES, ORIENTATION_TAG

ERROR, WARNING = 'error', 'warning'
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
    'class-mismatch': 'class folders differ between splits',
    'empty-class': 'class folder without loadable images',
    'imbalance': 'class imbalance',
    'no-classes': 'root or split folder without class folders',
    'loose-images': 'images in no class folder (ignored)',
    'skipped': 'files the dataset does not load (extension)',
}
#: Warnings printed in full (not only counted) by :func:`print_summary`.
SAID_WARNINGS = ('loose-images', 'skipped')
#: File findings a quarantine moves out of the dataset.
BROKEN_KINDS = ('zero-byte', 'unreadable', 'truncated', 'non-image', 'bomb')
EXT_FORMATS = {
    '.jpg': 'JPEG', '.jpeg': 'JPEG', '.png': 'PNG', '.bmp': 'BMP',
    '.webp': 'WEBP', '.tif': 'TIFF', '.tiff': 'TIFF', '.ppm': 'PPM',
    '.pgm': 'PPM', '.gif': 'GIF'
}
SIGNATURES = {
    b'\xff\xd8\xff': 'JPEG', b'\x89PNG\r\n\x1a\n': 'PNG', b'GIF8': 'GIF',
    b'BM': 'BMP', b'II*\x00': 'TIFF', b'MM\x00*': 'TIFF'
}
GREY_MODES = ('1', 'L', 'LA', 'La') + HIGH_DEPTH_MODES
MANIFEST = 'quarantine_manifest.json'


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
    """

    root: str
    layout: str
    counts: Counts
    files: int
    findings: List[Finding]
    quarantined: List[str] = field(default_factory=list)

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
            json.dump(dict(asdict(self), exit_code=self.exit_code,
                           summary={k: v for k, v in summary.items() if v}),
                      file, ensure_ascii=False, indent=1)


def _sniff(data: bytes) -> Optional[str]:
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'WEBP'
    return next((name for magic, name in SIGNATURES.items()
                 if data.startswith(magic)), None)


def _bit_depth(image: Image.Image, data: bytes) -> int:
    if image.mode in HIGH_DEPTH_MODES:
        return 16
    if image.format == 'PNG' and len(data) > 24:
        return data[24]  # IHDR bit depth
    if image.format == 'TIFF':
        bits = image.tag_v2.get(258, (8, ))
        return max(bits) if isinstance(bits, tuple) else int(bits)
    return 8


def inspect_file(path: str, min_size: int = 224,
                 extensions: Sequence[str] = IMG_EXTENSIONS) -> dict:
    """Read and decode one file and say what is wrong with it.

    Args:
        path: The file.
        min_size: Smallest side the pipeline wants.
        extensions: Extensions the dataset loads; problems of other files are
            warnings, since training never opens them.

    Returns:
        ``{'path', 'sha256', 'loadable', 'findings': [(kind, severity,
        message)]}``; ``loadable`` means the dataset loads it and it decodes.
    """
    ext = osp.splitext(path)[1].lower()
    loaded = ext in extensions
    broken = ERROR if loaded else WARNING
    result = dict(path=path, sha256=None, loadable=False, findings=[])

    def add(kind: str, severity: str, message: str) -> None:
        result['findings'].append((kind, severity, message))

    try:
        with open(path, 'rb') as file:
            data = file.read()
    except OSError as error:
        add('unreadable', broken, f'cannot read the file ({error.strerror})')
        return result
    if not data:
        add('zero-byte', broken, 'empty file (0 bytes)')
        return result
    result['sha256'] = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            orientation = image.getexif().get(ORIENTATION_TAG, 1)
        except Image.DecompressionBombError as error:
            add('bomb', broken, f'refused by Pillow: {error}')
            return result
        except UnidentifiedImageError:
            sniffed = _sniff(data)
            if sniffed:
                add('unreadable', broken, f'starts like a {sniffed} file but '
                    'its header cannot be parsed')
            else:
                add('non-image', broken, 'not an image' + (
                    '; the dataset would try to load it' if loaded else
                    '; the dataset ignores it'))
            return result
        except Exception as error:  # corrupt headers raise many kinds
            add('unreadable', broken, f'corrupt header ({error})')
            return result
    width, height = image.size
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    expected = EXT_FORMATS.get(ext)
    if not loaded:
        add('ext-mismatch', WARNING, f'{image.format} image with extension '
            f'{ext or "(none)"}, which the dataset does not load')
    elif expected and expected != image.format and not (
            expected == 'JPEG' and image.format == 'MPO'):  # JPEG + extras
        add('ext-mismatch', WARNING,
            f'named {ext} but holds a {image.format} image')
    mode = image.mode
    if mode in GREY_MODES:
        add('grayscale', WARNING, f'grayscale (mode {mode})')
    if mode in ('P', 'PA'):
        add('palette', WARNING, f'palette image (mode {mode})')
    if mode in ALPHA_MODES or 'transparency' in image.info:
        add('alpha', WARNING, f'has transparency (mode {mode}); '
            "LoadImageFromFile would show what is under it")
    if mode == 'CMYK':
        add('cmyk', WARNING, 'CMYK colours')
    depth = _bit_depth(image, data)
    if depth > 8:
        add('16-bit', WARNING, f'{depth}-bit pixels (mode {mode})')
    if orientation in range(2, 9):
        add('exif-rotated', WARNING, f'EXIF orientation {orientation}: '
            f'stored {image.width}x{image.height}, shown {width}x{height}')
    if min(width, height) < min_size:
        add('too-small', WARNING, f'{width}x{height}, smaller than '
            f'{min_size} px: the pipeline upscales it')
    if any(issubclass(w.category, Image.DecompressionBombWarning)
           for w in caught):
        add('bomb', WARNING, f'{width}x{height} = {width * height} pixels, '
            f'over Pillow\'s limit of {Image.MAX_IMAGE_PIXELS}: Pillow warns '
            'and every load needs that much memory (not decoded here)')
        result['loadable'] = loaded
        return result
    try:
        image.load()
    except Exception as error:  # truncated or corrupt pixel data
        reason = str(error)
        add('truncated' if 'truncated' in reason else 'unreadable', broken,
            reason if 'truncated' in reason else
            f'corrupt image data ({type(error).__name__}: {reason})')
        return result
    result['loadable'] = loaded
    return result


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
    classes = sorted(entry.name for entry in os.scandir(folder)
                     if entry.is_dir())
    files = {}
    for name in classes:
        found = []
        for parent, _, names in os.walk(osp.join(folder, name)):
            found += [osp.join(parent, n) for n in sorted(names)]
        files[name] = sorted(found)
    return files


def _inspect_all(paths: List[str], work, workers: int,
                 progress: bool) -> List[dict]:
    with (ProcessPoolExecutor(workers) if workers > 1 else
          nullcontext()) as pool:
        results = pool.map(work, paths, chunksize=8) if pool else map(
            work, paths)
        if progress:
            results = track(results, total=len(paths),
                            description='Decoding images',
                            console=Console(stderr=True))
        return list(results)


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
                  progress: bool = True) -> CheckReport:
    """Scan a dataset in either layout and report its problems.

    Args:
        root: ``root/{train,val[,test]}/<class>/`` or ``root/<class>/``.
        min_size: Images with a smaller side are reported as too small.
        workers: Decoding processes (all CPUs by default).
        imbalance: Warn when the largest class has more than this many times
            the images of the smallest.
        extensions: Extensions the dataset loads.
        progress: Show a progress bar.

    Returns:
        The report.
    """
    split_folders = find_splits(root)
    splits = {split: _class_files(folder)
              for split, folder in split_folders.items()}
    paths = [p for classes in splits.values() for files in classes.values()
             for p in files]
    work = partial(inspect_file, min_size=min_size, extensions=extensions)
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
    return CheckReport(
        root=root, layout='folder' if '' in splits else 'split',
        counts=counts, files=len(paths),
        findings=findings + dataset_findings)


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


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def _read_manifest(dest: str) -> dict:
    with open(osp.join(dest, MANIFEST), encoding='utf-8') as file:
        return json.load(file)


def _write_manifest(dest: str, manifest: dict) -> None:
    with open(osp.join(dest, MANIFEST), 'w', encoding='utf-8') as file:
        json.dump(manifest, file, ensure_ascii=False, indent=1)


def quarantine(report: CheckReport, dest: str) -> List[str]:
    """Move the broken files out of the dataset (never delete them).

    Each file keeps its path relative to the dataset root under ``dest``;
    ``dest/quarantine_manifest.json`` lists them for :func:`restore`.

    Args:
        report: What :func:`check_dataset` found.
        dest: Quarantine folder, outside the dataset.

    Returns:
        The moved files, relative to the root (also added to
        ``report.quarantined``).

    Raises:
        ValueError: ``dest`` is inside the dataset, or already holds another
            dataset's files.
        FileExistsError: A file of the same name is already quarantined.
    """
    root = osp.abspath(report.root)
    if _inside(dest, root):
        raise ValueError(f'quarantine folder {dest} is inside the dataset '
                         f'{root}; choose one outside it')
    broken = {path: f.message for f in report.findings
              if f.kind in BROKEN_KINDS and f.severity == ERROR
              for path in f.paths}
    manifest = {'root': root, 'files': []}
    if osp.isfile(osp.join(dest, MANIFEST)):
        manifest = _read_manifest(dest)
        if manifest['root'] != root:
            raise ValueError(f'{dest} already holds files quarantined from '
                             f'{manifest["root"]}; use another folder')
    clashes = [p for p in broken if osp.lexists(osp.join(dest, p))]
    if clashes:
        raise FileExistsError(f'already in {dest}: {clashes}')
    os.makedirs(dest, exist_ok=True)
    for path, reason in sorted(broken.items()):
        target = osp.join(dest, path)
        os.makedirs(osp.dirname(target), exist_ok=True)
        shutil.move(osp.join(root, path), target)
        manifest['files'].append({'path': path, 'reason': reason})
        _write_manifest(dest, manifest)
        report.quarantined.append(path)
    return sorted(broken)


def restore(dest: str) -> Tuple[List[str], List[str]]:
    """Put quarantined files back where they came from.

    Args:
        dest: The quarantine folder.

    Returns:
        (restored paths, problems); files that could not go back stay in the
        quarantine and in its manifest.

    Raises:
        FileNotFoundError: ``dest`` holds no manifest.
    """
    if not osp.isfile(osp.join(dest, MANIFEST)):
        raise FileNotFoundError(f'{dest} holds no {MANIFEST}')
    manifest = _read_manifest(dest)
    restored, problems, kept = [], [], []
    for entry in manifest['files']:
        source = osp.join(dest, entry['path'])
        target = osp.join(manifest['root'], entry['path'])
        if not osp.lexists(source):
            problems.append(f'{source}: missing from the quarantine')
        elif osp.lexists(target):
            problems.append(f'{target}: exists, not overwritten')
            kept.append(entry)
        else:
            os.makedirs(osp.dirname(target), exist_ok=True)
            shutil.move(source, target)
            restored.append(entry['path'])
    if kept:
        _write_manifest(dest, dict(manifest, files=kept))
    else:
        os.remove(osp.join(dest, MANIFEST))
    return restored, problems
