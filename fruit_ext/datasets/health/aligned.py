"""Confirm near-duplicate pairs by aligning one picture inside the other.

A cropped copy holds 80-100 % of each side of its source, rescaled. The
64-bit hashes only see crops on a coarse grid, and the 256-bit pHash of
a flat picture barely changes between look-alike objects. Here the
copy, in grey with its longer side at most ``SIDE`` px, is slid over the
source resized as if the copy covered each fraction in ``SCALES`` of its
width (the aspect ratios fix the height), both with their coarse shape
removed (minus a Gaussian blur), by OpenCV's normalised correlation
(``TM_CCOEFF_NORMED``: a brightness gain or offset does not change it);
the best placement over scales and both directions is the pair's score.
"""
from typing import Optional, Sequence

import numpy as np

from ...apis.image_core import BrokenImageError, load_rgb

#: Correlation that confirms a pair (chosen with threshold 6 on Fashion-MNIST
#: tuning seeds 0-2 with planted copies; held-out seeds 4-6 in docs/data.md).
DEFAULT_MIN_CORRELATION = 0.895
SIDE = 64
#: Fractions of the source's width the copy may cover.
SCALES = np.linspace(0.8, 1.0, 21)
#: Gaussian sigma (thumbnail pixels) removed before correlating: the
#: coarse shape of look-alike objects on one background correlates too.
DETAIL_SIGMA = 1.5


def _detail(grey: np.ndarray) -> np.ndarray:
    import cv2
    return grey - cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMA)


def grey_picture(path: str) -> Optional[np.ndarray]:
    """The picture as float32 grey (reduced decode), None when broken.

    Args:
        path: Image file.

    Returns:
        HxW float32 array, or None.
    """
    import cv2
    try:
        rgb = load_rgb(path, min_size=SIDE)
    except BrokenImageError:
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def inside_correlation(source: np.ndarray, copy: np.ndarray) -> float:
    """Best correlation of ``copy`` placed inside ``source``.

    Works at the copy's scale (its longer side at most :data:`SIDE`): the
    source is resized as if the copy covered each fraction in
    :data:`SCALES` of its width (the aspect ratios fix the height).

    Args:
        source: HxW grey picture that may contain the other.
        copy: hxw grey picture, maybe a crop of ``source``.

    Returns:
        The largest ``TM_CCOEFF_NORMED`` over scales and offsets (-1 to 1).
    """
    import cv2
    shrink = min(1.0, SIDE / max(copy.shape))
    small = cv2.resize(copy, (max(8, round(copy.shape[1] * shrink)),
                              max(8, round(copy.shape[0] * shrink))),
                       interpolation=cv2.INTER_AREA)
    height, width = small.shape
    template = _detail(small)
    if template.std() < 1e-3:  # a flat picture correlates with nothing
        return -1.0
    # copy = source[fy * H, fx * W] rescaled: fy / fx follows from shapes
    ratio = (source.shape[1] * copy.shape[0]) / (source.shape[0] *
                                                 copy.shape[1])
    best = -1.0
    for fx in SCALES:
        size = (round(width / fx), round(height / (fx * ratio)))
        if not (width <= size[0] and height <= size[1] <=
                height / SCALES[0] + 1):
            continue
        found = cv2.matchTemplate(
            _detail(cv2.resize(source, size, interpolation=cv2.INTER_AREA)),
            template, cv2.TM_CCOEFF_NORMED)
        best = max(best, float(np.nan_to_num(found, nan=-1.0).max()))
    return best


def aligned_scores(paths: Sequence[str], pairs: np.ndarray) -> np.ndarray:
    """The aligned correlation of each pair (either may be the crop).

    Args:
        paths: Image files, indexed by ``pairs``.
        pairs: (M, 2) index pairs.

    Returns:
        (M,) float array; -1 for a pair with a broken file.
    """
    needed = sorted(set(np.asarray(pairs).ravel().tolist()))
    pictures = {i: grey_picture(paths[i]) for i in needed}
    scores = np.full(len(pairs), -1.0)
    for row, (a, b) in enumerate(np.asarray(pairs).tolist()):
        if pictures[a] is None or pictures[b] is None:
            continue
        scores[row] = max(inside_correlation(pictures[a], pictures[b]),
                          inside_correlation(pictures[b], pictures[a]))
    return scores
