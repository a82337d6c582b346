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

That placement is only on a grid (integer offsets, scale steps of 0.01),
so a true copy scores little higher than two look-alike plain garments.
With ``refine_from`` a placement scoring at least that is refined by
OpenCV's ECC (``findTransformECC``, affine, sub-pixel, brightness-proof)
and the pair's score becomes the detail correlation of the refined
overlap: a copy of the same photo then lines up almost exactly, a
look-alike does not.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

from ...apis.image_core import BrokenImageError, load_rgb

#: Refined correlation that confirms a pair (chosen with threshold 6 and
#: :data:`REFINE_FROM` on Fashion-MNIST with planted copies; docs/data.md).
DEFAULT_MIN_CORRELATION = 0.96
SIDE = 64
#: Fractions of the source's width the copy may cover.
SCALES = np.linspace(0.8, 1.0, 21)
#: Gaussian sigma (thumbnail pixels) removed before correlating: the
#: coarse shape of look-alike objects on one background correlates too.
DETAIL_SIGMA = 1.5
#: Grid correlation from which a placement is refined (None: never).
REFINE_FROM: Optional[float] = 0.80
#: Pixels per side left out of the refined correlation (warped borders).
BORDER = 2


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


def _placement(source: np.ndarray, copy: np.ndarray
               ) -> Tuple[float, Optional[tuple]]:
    """Best grid placement of ``copy`` inside ``source``.

    Args:
        source: HxW grey picture that may contain the other.
        copy: hxw grey picture, maybe a crop of ``source``.

    Returns:
        (correlation, (copy thumbnail, resized source, x, y) or None).
    """
    import cv2
    shrink = min(1.0, SIDE / max(copy.shape))
    small = cv2.resize(copy, (max(8, round(copy.shape[1] * shrink)),
                              max(8, round(copy.shape[0] * shrink))),
                       interpolation=cv2.INTER_AREA)
    height, width = small.shape
    template = _detail(small)
    if template.std() < 1e-3:  # a flat picture correlates with nothing
        return -1.0, None
    # copy = source[fy * H, fx * W] rescaled: fy / fx follows from shapes
    ratio = (source.shape[1] * copy.shape[0]) / (source.shape[0] *
                                                 copy.shape[1])
    best, where = -1.0, None
    for fx in SCALES:
        size = (round(width / fx), round(height / (fx * ratio)))
        if not (width <= size[0] and height <= size[1] <=
                height / SCALES[0] + 1):
            continue
        resized = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        found = np.nan_to_num(cv2.matchTemplate(
            _detail(resized), template, cv2.TM_CCOEFF_NORMED), nan=-1.0)
        y, x = np.unravel_index(found.argmax(), found.shape)
        if found[y, x] > best:
            best, where = float(found[y, x]), (small, resized, x, y)
    return best, where


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
    return _placement(source, copy)[0]


def refined_correlation(small: np.ndarray, resized: np.ndarray, x: int,
                        y: int) -> float:
    """Detail correlation after refining a grid placement by ECC.

    Args:
        small: hxw copy thumbnail.
        resized: The source resized at the placement's scale.
        x: Placement's column in ``resized``.
        y: Placement's row in ``resized``.

    Returns:
        Correlation (-1 to 1) of the details of ``small`` and of
        ``resized`` warped onto it, :data:`BORDER` px per side left out.
    """
    import cv2
    height, width = small.shape
    warp = np.array([[1, 0, x], [0, 1, y]], np.float32)
    try:
        _, warp = cv2.findTransformECC(
            small, resized, warp, cv2.MOTION_AFFINE,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4),
            None, 1)
    except cv2.error:  # did not converge: keep the grid placement
        pass
    warped = cv2.warpAffine(resized, warp, (width, height),
                            flags=cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REFLECT)
    inner = (slice(BORDER, -BORDER), ) * 2
    a, b = _detail(small)[inner], _detail(warped)[inner]
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / max(1e-9, np.sqrt((a * a).sum() *
                                                   (b * b).sum())))


def aligned_scores(paths: Sequence[str], pairs: np.ndarray,
                   refine_from: Optional[float] = REFINE_FROM) -> np.ndarray:
    """The aligned correlation of each pair (either may be the crop).

    Args:
        paths: Image files, indexed by ``pairs``.
        pairs: (M, 2) index pairs.
        refine_from: Grid correlation from which the best placement is
            refined (:func:`refined_correlation` becomes the score; pairs
            below keep their grid score). None: grid scores only.

    Returns:
        (M,) float array; -1 for a pair with a broken file.
    """
    needed = sorted(set(np.asarray(pairs).ravel().tolist()))
    pictures = {i: grey_picture(paths[i]) for i in needed}
    scores = np.full(len(pairs), -1.0)
    for row, (a, b) in enumerate(np.asarray(pairs).tolist()):
        if pictures[a] is None or pictures[b] is None:
            continue
        score, where = max(_placement(pictures[a], pictures[b]),
                           _placement(pictures[b], pictures[a]),
                           key=lambda placed: placed[0])
        if refine_from is not None and where and score >= refine_from:
            score = refined_correlation(*where)
        scores[row] = score
    return scores
