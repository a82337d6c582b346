"""Move broken files out of a dataset, with a manifest that puts them back."""
import json
import os
import os.path as osp
import shutil
from typing import Dict, List, Tuple

from .check import BROKEN_KINDS, ERROR, CheckReport
from .split import path_inside

MANIFEST = 'quarantine_manifest.json'


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
    broken = {path: f.message for f in report.findings
              if f.kind in BROKEN_KINDS and f.severity == ERROR
              for path in f.paths}
    moved = move_out(report.root, broken, dest)
    report.quarantined += moved
    return moved


def move_out(root: str, files: Dict[str, str], dest: str) -> List[str]:
    """Move files out of a dataset with a manifest :func:`restore` reads.

    Args:
        root: Dataset root.
        files: ``{path relative to root: reason}``.
        dest: Folder outside the dataset; paths are kept under it.

    Returns:
        The moved paths, sorted.

    Raises:
        ValueError: ``dest`` is inside the dataset, or already holds another
            dataset's files.
        FileExistsError: A file of the same name is already there.
    """
    root = osp.abspath(root)
    if path_inside(dest, root):
        raise ValueError(f'quarantine folder {dest} is inside the dataset '
                         f'{root}; choose one outside it')
    manifest = {'root': root, 'files': []}
    if osp.isfile(osp.join(dest, MANIFEST)):
        manifest = _read_manifest(dest)
        if manifest['root'] != root:
            raise ValueError(f'{dest} already holds files quarantined from '
                             f'{manifest["root"]}; use another folder')
    clashes = [p for p in files if osp.lexists(osp.join(dest, p))]
    if clashes:
        raise FileExistsError(f'already in {dest}: {clashes}')
    os.makedirs(dest, exist_ok=True)
    for path, reason in sorted(files.items()):
        target = osp.join(dest, path)
        os.makedirs(osp.dirname(target), exist_ok=True)
        shutil.move(osp.join(root, path), target)
        manifest['files'].append({'path': path, 'reason': reason})
        _write_manifest(dest, manifest)
    return sorted(files)


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
