"""One pass per file: check's findings, near-duplicate hashes, statistics.

:func:`measure_file` runs :func:`inspect_file` (what would break training)
and, for a loadable file, decodes it once more with the loader's core at
the reduced scale of :func:`~fruit_ext.datasets.duplicates.hash_file` for
the perceptual hashes (so check finds what ``find_duplicates.py`` finds)
and, for the health report, at 256 px for the brightness and sharpness
figures.
"""
from typing import Optional, Sequence

import numpy as np

from ...apis.image_core import (BrokenImageError, displayed_size, load_rgb,
                                open_image, read_file)
from ..duplicates import DEFAULT_CROP_STEPS, hash_rgb
from ..file_findings import inspect_file
from ..fruit30 import IMG_EXTENSIONS

#: Mean grey level (0-255) below which an image counts as very dark.
DARK_BELOW = 40.0
#: Variance of the Laplacian (grey, short side scaled to 256 px) below
#: which an image counts as blurred.
BLUR_BELOW = 30.0
STATS_SIDE = 256


def sharpness(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a grey image.

    Args:
        grey: HxW float array, 0-255.

    Returns:
        The variance (low: blurred or flat).
    """
    if min(grey.shape) < 3:
        return 0.0
    lap = (grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] +
           grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1])
    return float(lap.var())


def image_stats(rgb: np.ndarray) -> dict:
    """Brightness and sharpness of a decoded picture.

    Args:
        rgb: HxWx3 uint8 array.

    Returns:
        ``{'brightness', 'sharpness'}`` (sharpness measured with the short
        side scaled to 256 px, so figures of any size compare).
    """
    from PIL import Image
    grey = Image.fromarray(rgb).convert('L')
    scale = STATS_SIDE / min(grey.size)
    if scale < 1:
        grey = grey.resize((max(1, round(grey.width * scale)),
                            max(1, round(grey.height * scale))), Image.BOX)
    pixels = np.asarray(grey, dtype=np.float64)
    return dict(brightness=float(pixels.mean()), sharpness=sharpness(pixels))


def measure_file(path: str, min_size: int = 224,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 hashes: Optional[int] = DEFAULT_CROP_STEPS,
                 stats: bool = False) -> dict:
    """:func:`inspect_file`, plus hashes and statistics of a loadable file.

    Args:
        path: The file.
        min_size: Smallest side the pipeline wants.
        extensions: Extensions the dataset loads.
        hashes: Add ``'hashes'``: :func:`hash_rgb` on this crop grid (the
            same as :func:`hash_file`'s); None: none.
        stats: Add ``'stats'``: width, height (as shown), format, mode,
            EXIF orientation, brightness, sharpness.

    Returns:
        The :func:`inspect_file` result with those keys added.
    """
    result = inspect_file(path, min_size, extensions)
    too_big = any(kind == 'bomb' for kind, _, _ in result['findings'])
    if not result['loadable'] or too_big or not (hashes or stats):
        return result
    try:
        data = read_file(path)
        image, orientation = open_image(data, path)
        if hashes:  # hash_file's own decode: the same hashes, bit for bit
            result['hashes'] = hash_rgb(load_rgb(data, min_size=96,
                                                 path=path), hashes)
        if stats:
            rgb = load_rgb(data, min_size=STATS_SIDE, path=path)
    except BrokenImageError:  # already a finding of inspect_file
        return result
    if stats:
        width, height = displayed_size(image, orientation)
        result['stats'] = dict(width=width, height=height,
                               format=image.format, mode=image.mode,
                               orientation=orientation, **image_stats(rgb))
    return result


def near_duplicate_findings(root: str, splits: dict, results: dict,
                            near, severity: str) -> tuple:
    """Near-duplicate groups of a checked dataset, as check findings.

    Groups made only of byte-identical files are left to check's exact
    ``duplicate`` / ``leakage`` findings.

    Args:
        root: Dataset root.
        splits: ``{split: {class: [paths]}}`` as check lists them.
        results: :func:`measure_file` results by path.
        near: How they are matched (``NearDupSettings``; its crop grid
            is the one the results were hashed on).
        severity: 'error' or 'warning' for groups that span splits or
            carry different labels.

    Returns:
        (report, [(kind, severity, message, paths)]).
    """
    import os.path as osp

    from ..duplicates import Item
    items, hashed = [], []
    for split, classes in splits.items():
        for label, paths in classes.items():
            for path in paths:
                if results[path].get('hashes') is not None:
                    items.append(Item(osp.relpath(path, root), split, label))
                    hashed.append(results[path]['hashes'])
    report = near.group(root, items, hashed)
    found = []
    for group in report.groups:
        digests = {results[osp.join(root, items[i].path)]['sha256']
                   for i in group}
        if len(digests) == 1:
            continue
        paths = [items[i].path for i in group]
        spans, labels = report.splits_of(group), report.labels_of(group)
        if len(labels) > 1:
            found.append(('near-label-conflict', severity,
                          f'{len(group)} near-duplicate images labelled as '
                          f'different classes {labels}', paths))
        if len(spans) > 1:
            found.append(('near-leakage', severity, f'{len(group)} '
                          'near-duplicate images in ' + ' and '.join(spans),
                          paths))
        elif len(labels) == 1:
            found.append(('near-duplicate', 'warning', f'{len(group)} '
                          f'near-duplicate images in {spans[0] or "."}',
                          paths))
    return report, found
