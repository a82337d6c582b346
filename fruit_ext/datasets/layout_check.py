"""Layout problems of an image-folder dataset: where the class folders are.

A dataset is ``ROOT/<class>/*.jpg`` or ``ROOT/{train,val[,test]}/<class>/``.
Images anywhere else are never loaded, so a root without class folders, or
images lying directly in the root or in a split folder, are reported rather
than scanned as an empty dataset.
"""
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

#: (kind, severity, message, paths relative to the root)
LayoutFinding = Tuple[str, str, str, List[str]]

LAYOUT_HINT = ('expected ROOT/<class>/*.jpg or ROOT/{train,val}/<class>/'
               '*.jpg, one folder per class')
#: Files the check writes into the root itself; never reported.
OWN_FILES = ('check_report.json', 'check_report.png')


def loose_images(folder: str, extensions: Sequence[str]) -> List[str]:
    """Image files lying directly in a folder (not in a sub-folder).

    Args:
        folder: The folder.
        extensions: Lower-case extensions that count as images.

    Returns:
        Their file names, sorted.
    """
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.is_file() and entry.name not in OWN_FILES
                  and not entry.name.startswith('.')
                  and osp.splitext(entry.name)[1].lower() in extensions)


def _examples(names: List[str], limit: int = 3) -> str:
    more = f', ... ({len(names)} in all)' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more


def layout_findings(root: str, split_folders: Dict[str, str],
                    classes: Dict[str, Dict[str, List[str]]],
                    extensions: Sequence[str]) -> List[LayoutFinding]:
    """Say what is wrong with where the images are.

    Args:
        root: Dataset root.
        split_folders: ``{split: folder}`` ('' for the folder layout).
        classes: ``{split: {class: files}}`` as scanned.
        extensions: Lower-case extensions that count as images.

    Returns:
        Errors for a root or split without class folders, warnings for
        images that no class folder holds (the dataset ignores them).
    """
    findings: List[LayoutFinding] = []
    in_root = loose_images(root, extensions)
    for split, folder in split_folders.items():
        loose = in_root if not split else loose_images(folder, extensions)
        where = f'{root}/{split}' if split else root
        rel = (lambda n, s=split: f'{s}/{n}' if s else n)
        if not classes[split]:
            message = f'no class folders in {where}: {LAYOUT_HINT}'
            if loose:
                message += (f'. {len(loose)} image(s) sit directly in {where}'
                            f' ({_examples(loose)}): move them into one '
                            'folder per class')
            findings.append(('no-classes', 'error', message,
                             [split or '.'] + [rel(n) for n in loose]))
        elif loose:
            findings.append((
                'loose-images', 'warning',
                f'{len(loose)} image(s) directly in {where} are in no class '
                'folder and are ignored',
                [rel(n) for n in loose]))
    if any(split_folders) and in_root:
        findings.append((
            'loose-images', 'warning',
            f'{len(in_root)} image(s) directly in {root}, beside the split '
            'folders, are ignored', in_root))
    return findings


def extension_reason(path: str) -> str:
    """Why a file without an image extension is not loaded.

    Args:
        path: The file.

    Returns:
        'unsupported extension .gif' or 'no extension'.
    """
    ext = osp.splitext(path)[1].lower()
    return f'unsupported extension {ext}' if ext else 'no extension'


def skipped_files(results: Dict[str, dict],
                  extensions: Sequence[str]) -> Dict[str, List[str]]:
    """Files in class folders that the dataset does not load, by reason.

    Args:
        results: :func:`~fruit_ext.datasets.check.inspect_file` results by
            path.
        extensions: Lower-case extensions the dataset loads.

    Returns:
        ``{'unsupported extension .gif': [paths], 'no extension': [...]}``.
    """
    skipped: Dict[str, List[str]] = {}
    for path in sorted(results):
        if osp.splitext(path)[1].lower() not in extensions:
            skipped.setdefault(extension_reason(path), []).append(path)
    return skipped
