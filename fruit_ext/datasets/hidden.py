"""Hidden files and folders are not part of a dataset.

A name starting with '.' is hidden on Linux and macOS: version-control and
notebook folders (``.git``, ``.ipynb_checkpoints``), Finder's ``.DS_Store``,
and the AppleDouble ``._photo.jpg`` files macOS writes beside every file it
copies to a non-Mac disk (they carry the image's extension but hold no
image). Every tool that lists a dataset skips them, so they never become a
class, a sample or a broken-file error; the dataset logs what it skipped and
``tools/dataset/check.py`` reports it.
"""
import os
import os.path as osp
from typing import List, Tuple

#: Why a scan leaves a hidden file or folder out.
HIDDEN_REASON = "hidden file or folder (name starts with '.')"


def is_hidden(relative_path: str) -> bool:
    """Whether any part of a relative path is hidden (starts with '.').

    Args:
        relative_path: A path relative to a dataset folder.

    Returns:
        True for ``.git``, ``a/._b.jpg`` or ``a/.thumbs/b.jpg``.
    """
    parts = relative_path.replace(os.sep, '/').split('/')
    return any(part.startswith('.') and part not in ('.', '..')
               for part in parts)


def class_folders(folder: str) -> List[str]:
    """Sorted names of the visible sub-folders of ``folder``.

    Args:
        folder: A folder holding one folder per class.

    Returns:
        The class folder names.
    """
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.is_dir() and not is_hidden(entry.name))


def walk_visible(folder: str) -> Tuple[List[str], List[str]]:
    """Every visible file under ``folder``, and the hidden entries skipped.

    Hidden folders are not entered.

    Args:
        folder: The folder to walk.

    Returns:
        ``(files, hidden)``: sorted paths of the visible files (joined to
        ``folder``), and the hidden files and folders relative to
        ``folder``, '/' separated.
    """
    files, hidden = [], []
    for parent, dirs, names in os.walk(folder):
        relative = osp.relpath(parent, folder)
        for name in sorted(dirs) + sorted(names):
            if name.startswith('.'):
                hidden.append(osp.normpath(osp.join(relative, name))
                              .replace(os.sep, '/'))
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        files += [osp.join(parent, n) for n in names if not n.startswith('.')]
    return sorted(files), sorted(hidden)


def describe_hidden(hidden: List[str], limit: int = 5) -> str:
    """One line naming skipped hidden entries, for logs and reports.

    Args:
        hidden: Relative paths from :func:`walk_visible`.
        limit: How many to name (0: none).

    Returns:
        E.g. ``"3 hidden file(s)/folder(s) skipped (names starting with
        '.'): .DS_Store, .git, apple/._1.jpg"``.
    """
    said = (f"{len(hidden)} hidden file(s)/folder(s) skipped (names starting "
            "with '.', not part of the dataset)")
    if not limit:
        return said
    return f"{said}: {', '.join(hidden[:limit])}" + (
        ' ...' if len(hidden) > limit else '')
