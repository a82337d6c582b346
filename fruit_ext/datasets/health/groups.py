"""Groups of images that must stay in one split: near-duplicates, bursts.

Both return ``{'<class>/<path in the class folder>': group key}`` for
:func:`fruit_ext.datasets.split.plan_split` (images in no group are left
out of the mapping).
"""
import os
import os.path as osp
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...apis.image_core import BrokenImageError, open_image, read_file
from ..duplicates import Item, NearDupSettings, connected_groups, hash_files
from ..fruit30 import IMG_EXTENSIONS
from ..hidden import class_folders, walk_visible

Groups = Dict[str, str]
EXIF_IFD, DATETIME_ORIGINAL, DATETIME = 0x8769, 0x9003, 0x0132


def class_images(src: str, extensions: Sequence[str] = IMG_EXTENSIONS
                 ) -> List[Tuple[str, str]]:
    """(class, path in the class folder) of every image of ``src/<class>/``.

    Args:
        src: Root holding one folder per class.
        extensions: Image extensions.

    Returns:
        Sorted pairs, '/' separated.
    """
    extensions = tuple(e.lower() for e in extensions)
    found = []
    for name in class_folders(src):
        folder = osp.join(src, name)
        found += [(name, osp.relpath(path, folder).replace(os.sep, '/'))
                  for path in walk_visible(folder)[0]
                  if path.lower().endswith(extensions)]
    return sorted(found)


def near_duplicate_groups(src: str, near: Optional[NearDupSettings] = None,
                          workers: int = 1, progress: bool = True,
                          extensions: Sequence[str] = IMG_EXTENSIONS
                          ) -> Groups:
    """Near-duplicate groups (:mod:`fruit_ext.datasets.duplicates`).

    Args:
        src: Root holding one folder per class.
        near: How they are matched (None: the defaults of
            ``find_duplicates.py``, so both find the same groups).
        workers: Hashing processes.
        progress: Show a progress bar.
        extensions: Image extensions.

    Returns:
        Image key to ``'dup<N>'``.
    """
    images = class_images(src, extensions)
    items = [Item(f'{name}/{relative}', '', name)
             for name, relative in images]
    near = near or NearDupSettings()
    report = near.group(src, items, hash_files(
        [osp.join(src, item.path) for item in items], workers, progress,
        near.crop_steps))
    return {report.items[i].path: f'dup{number}'
            for number, group in enumerate(report.groups) for i in group}


def taken_at(path: str) -> Optional[datetime]:
    """When the photo was taken (EXIF DateTimeOriginal, else DateTime).

    Args:
        path: Image file.

    Returns:
        The time, or None when the file has no (readable) EXIF time.
    """
    try:
        image, _ = open_image(read_file(path), path)
        exif = image.getexif()
    except (BrokenImageError, OSError, ValueError):
        return None
    value = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or \
        exif.get(DATETIME)
    try:
        return datetime.strptime(str(value).strip('\x00 '),
                                 '%Y:%m:%d %H:%M:%S')
    except ValueError:
        return None


def burst_groups(src: str, seconds: float,
                 extensions: Sequence[str] = IMG_EXTENSIONS
                 ) -> Tuple[Groups, int]:
    """Bursts: photos of a class taken within ``seconds`` of the previous.

    Args:
        src: Root holding one folder per class.
        seconds: Largest gap inside a burst.
        extensions: Image extensions.

    Returns:
        (image key to ``'burst<N>'`` for bursts of 2+, number of images
        without an EXIF time, left ungrouped).
    """
    if seconds < 0:
        raise ValueError(f'burst gap must be >= 0 seconds, got {seconds}')
    by_class: Dict[str, List[Tuple[datetime, str]]] = {}
    missing = 0
    for name, relative in class_images(src, extensions):
        when = taken_at(osp.join(src, name, relative))
        if when is None:
            missing += 1
        else:
            by_class.setdefault(name, []).append((when, f'{name}/{relative}'))
    groups: Groups = {}
    number = 0
    for shots in by_class.values():
        shots.sort()
        run = [shots[0][1]] if shots else []
        for (before, _), (when, key) in zip(shots, shots[1:]):
            if (when - before).total_seconds() <= seconds:
                run.append(key)
                continue
            if len(run) > 1:
                groups.update({k: f'burst{number}' for k in run})
                number += 1
            run = [key]
        if len(run) > 1:
            groups.update({k: f'burst{number}' for k in run})
            number += 1
    return groups, missing


def merge_groups(*groupings: Groups) -> Groups:
    """One grouping where images linked by any of ``groupings`` share a key.

    Args:
        groupings: Image key to group key mappings.

    Returns:
        Image key to ``'g<N>'``.
    """
    keys = sorted({k for grouping in groupings for k in grouping})
    index = {k: i for i, k in enumerate(keys)}
    pairs = []
    for grouping in groupings:
        first: Dict[str, int] = {}
        for key, group in grouping.items():
            pairs.append((first.setdefault(group, index[key]), index[key]))
    merged = connected_groups(len(keys), np.array(pairs).reshape(-1, 2))
    return {keys[i]: f'g{n}' for n, group in enumerate(merged)
            for i in group}
