"""Turn command-line inputs into a list of image files.

An input is an image file, a folder (searched recursively), a glob pattern or
a text file listing one image path per line (relative paths are taken from
the list's folder). Files a folder or pattern holds without an image
extension, and hidden ones (name starting with '.', such as macOS's
``._photo.jpg``), are reported as skipped, with the reason, never dropped
silently.
"""
import glob
import os.path as osp
from typing import List, Sequence, Tuple

from ..datasets import IMG_EXTENSIONS
from ..datasets.hidden import HIDDEN_REASON, walk_visible
from ..datasets.layout_check import extension_reason

LIST_EXTENSIONS = ('.txt', '.lst')

#: (path, what is wrong with it)
Problem = Tuple[str, str]


def _is_image_name(path: str) -> bool:
    return path.lower().endswith(IMG_EXTENSIONS)


def skip_reason(path: str) -> str:
    """Why a folder or pattern scan leaves a file out.

    Args:
        path: A file whose name has no image extension.

    Returns:
        E.g. 'unsupported extension .gif (...)'.
    """
    return (f'{extension_reason(path)} (folders and patterns are scanned for '
            f'{", ".join(IMG_EXTENSIONS)}; name the file itself to try it)')


def _split_images(files: List[str]) -> Tuple[List[str], List[Problem]]:
    images = [path for path in files if _is_image_name(path)]
    others = [(path, skip_reason(path)) for path in files
              if not _is_image_name(path)]
    return images, others


def _from_folder(folder: str) -> Tuple[List[str], List[Problem]]:
    files, hidden = walk_visible(folder)
    images, others = _split_images(files)
    return images, others + [(osp.join(folder, path), HIDDEN_REASON)
                             for path in hidden]


def _from_list(list_file: str) -> List[str]:
    base = osp.dirname(list_file)
    with open(list_file, encoding='utf-8') as file:
        lines = [line.strip() for line in file]
    return [line if osp.isabs(line) else osp.join(base, line)
            for line in lines if line and not line.startswith('#')]


def collect_images(inputs: Sequence[str]) -> Tuple[List[str], List[Problem]]:
    """Expand inputs into a de-duplicated list of image paths.

    Args:
        inputs: Image files, folders, glob patterns or ``.txt`` path lists.

    Returns:
        (image paths in input order, problems): inputs that matched
        nothing, and each file a folder or pattern held without an image
        extension (``.gif``, no extension, ...), with the reason it was
        skipped. Files named explicitly (directly or in a list) are kept
        whatever their extension, so an unreadable one is reported when it
        is read.
    """
    paths: List[str] = []
    problems: List[Problem] = []
    for item in inputs:
        skipped: List[Problem] = []
        if osp.isdir(item):
            found, skipped = _from_folder(item)
            reason = 'folder holds no image files'
        elif osp.isfile(item):
            found = _from_list(item) if item.lower().endswith(
                LIST_EXTENSIONS) else [item]
            reason = 'list names no files'
        elif glob.has_magic(item):
            found, skipped = _split_images(sorted(
                path for path in glob.glob(item, recursive=True)
                if osp.isfile(path)))
            reason = 'pattern matches no image files'
        else:
            found, reason = [], 'no such file or folder'
        if not found:
            problems.append((item, reason + (
                f' ({len(skipped)} other file(s))' if skipped else '')))
        problems.extend(skipped)
        paths.extend(found)
    return list(dict.fromkeys(paths)), list(dict.fromkeys(problems))

