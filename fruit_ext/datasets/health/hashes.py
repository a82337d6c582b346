"""Perceptual hashes for near-duplicate search, on the loader's decode.

Every image is decoded once with :func:`load_rgb` (reduced JPEG decode) and
brought to a 96x96 grey thumbnail; the 64-bit pHash and dHash of
``imagehash`` (computed here in one batch, bit for bit the same) of the
whole thumbnail and of 48 crops of it (90-100 % of each side) index the
image; the 256-bit pHash confirms a matched pair.
"""
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ...apis.image_core import BrokenImageError, load_rgb

#: 256-bit pHash distance that confirms a pair (chosen on Fashion-MNIST
#: with planted copies, docs/data.md).
DEFAULT_CONFIRM = 40


def _bits_to_int(bits: np.ndarray) -> int:
    return int(np.packbits(bits.astype(np.uint8).ravel()).view('>u8')[0])


#: Offsets per crop size and axis of the default grid (49 boxes).
DEFAULT_CROP_STEPS = 3


@lru_cache(maxsize=None)  # once per grid, not per image
def crop_boxes(steps: int = DEFAULT_CROP_STEPS
               ) -> Tuple[Tuple[float, float, float, float], ...]:
    """Crop boxes (fractions) hashed per image; the first is the whole image.

    Per axis: the whole side, 95 % at ``steps`` offsets and 90 % at
    ``steps`` offsets; with 3, a copy cropped to 90-100 % of each side
    anywhere is within 2.5 % of one; 5 halves that (121 boxes, a superset).

    Args:
        steps: Offsets per crop size and axis, at least 2.
    """
    if steps < 2:
        raise ValueError(f'crop steps must be at least 2, got {steps}')
    spans = [(0.0, 1.0)] + [(start, start + size) for size in (0.95, 0.9)
                            for start in np.linspace(0, 1 - size, steps)]
    return tuple((x0, y0, x1, y1) for (x0, x1) in spans for (y0, y1) in spans)


BOXES = crop_boxes()


def phash_matrix(pixels: np.ndarray, size: int = 8) -> np.ndarray:
    """``imagehash.phash(hash_size=size)`` bits of grey thumbnails, batched.

    Args:
        pixels: (B, 4 * size, 4 * size) grey values.
        size: Hash side; ``size ** 2`` bits.

    Returns:
        (B, size ** 2) bool array.
    """
    from scipy.fft import dct
    coeffs = dct(dct(pixels.astype(np.float64), axis=1),
                 axis=2)[:, :size, :size]
    flat = coeffs.reshape(len(pixels), -1)
    return flat > np.median(flat, axis=1, keepdims=True)


def phash_bits(pixels: np.ndarray) -> np.ndarray:
    """``imagehash.phash`` of 32x32 grey thumbnails, as uint64, batched.

    Args:
        pixels: (B, 32, 32) grey values.

    Returns:
        (B,) uint64 hashes (bit order of ``imagehash``'s hex strings).
    """
    bits = phash_matrix(pixels)
    return np.packbits(bits, axis=1).view('>u8').ravel().astype(np.uint64)


def dhash_bits(pixels: np.ndarray) -> np.ndarray:
    """``imagehash.dhash`` of (B, 8, 9) grey thumbnails, as uint64.

    Args:
        pixels: (B, 8, 9) grey values.

    Returns:
        (B,) uint64 hashes.
    """
    bits = (pixels[:, :, 1:] > pixels[:, :, :-1]).reshape(len(pixels), -1)
    return np.packbits(bits, axis=1).view('>u8').ravel().astype(np.uint64)


def hash_rgb(rgb: np.ndarray, steps: int = DEFAULT_CROP_STEPS) -> np.ndarray:
    """pHash and dHash of the whole picture and of each crop box.

    The same hashes as ``imagehash.phash`` / ``dhash`` of each crop of a
    96x96 grey thumbnail (tests/test_duplicates.py), computed in one batch.

    Args:
        rgb: HxWx3 uint8 array.
        steps: Crop grid (:func:`crop_boxes`).

    Returns:
        (len(crop_boxes(steps)), 2) uint64 array of (pHash, dHash); row 0
        is the whole picture.
    """
    from PIL import Image
    grey = _grey_thumb(rgb)
    lanczos = Image.Resampling.LANCZOS
    crops = [tuple(round(v * 96) for v in box) for box in crop_boxes(steps)]
    big = np.stack([np.asarray(grey.crop(box).resize((32, 32), lanczos))
                    for box in crops])
    small = np.stack([np.asarray(grey.crop(box).resize((9, 8), lanczos))
                      for box in crops])
    return np.stack([phash_bits(big), dhash_bits(small)], 1)


def _grey_thumb(rgb: np.ndarray):
    from PIL import Image
    return Image.fromarray(rgb).convert('L').resize((96, 96), Image.LANCZOS)


def fine_hashes(path: str) -> Optional[np.ndarray]:
    """256-bit pHashes of the picture and of each :data:`BOXES` crop.

    Args:
        path: Image file.

    Returns:
        (len(BOXES), 256) bool array, or None for a broken file.
    """
    from PIL import Image
    try:
        grey = _grey_thumb(load_rgb(path, min_size=96))
    except BrokenImageError:
        return None
    crops = [grey.crop(tuple(round(v * 96) for v in box)).resize(
        (64, 64), Image.Resampling.LANCZOS) for box in BOXES]
    return phash_matrix(np.stack([np.asarray(c) for c in crops]), 16)


def confirm_pairs(paths: Sequence[str], pairs: np.ndarray,
                  max_distance: int = DEFAULT_CONFIRM) -> np.ndarray:
    """Which matched pairs also agree on a 256-bit pHash.

    The 64-bit hashes cannot tell two photos of look-alike objects (two
    plain T-shirts) from a copy; the 256-bit pHash of one picture against
    the best of the other's crops (both ways) can.

    Args:
        paths: Image files, indexed by ``pairs``.
        pairs: (M, 2) index pairs.
        max_distance: Largest Hamming distance of 256 bits kept.

    Returns:
        (M,) bool array.
    """
    needed = sorted(set(pairs.ravel().tolist()))
    fine = {i: fine_hashes(paths[i]) for i in needed}
    keep = np.zeros(len(pairs), bool)
    for row, (a, b) in enumerate(pairs.tolist()):
        if fine[a] is None or fine[b] is None:
            continue
        distance = min((fine[a][0] != fine[b]).sum(1).min(),
                       (fine[b][0] != fine[a]).sum(1).min())
        keep[row] = distance <= max_distance
    return keep


def hash_file(path: str, steps: int = DEFAULT_CROP_STEPS
              ) -> Optional[np.ndarray]:
    """:func:`hash_rgb` of an image file; None when it cannot be decoded.

    Args:
        path: Image file.
        steps: Crop grid (:func:`crop_boxes`).

    Returns:
        The hashes, or None for a broken file (``check.py`` reports it).
    """
    try:
        return hash_rgb(load_rgb(path, min_size=96), steps)
    except BrokenImageError:
        return None


def hash_files(paths: Sequence[str], workers: int = 1,
               progress: bool = True, steps: int = DEFAULT_CROP_STEPS
               ) -> List[Optional[np.ndarray]]:
    """:func:`hash_file` of every path, in parallel.

    Args:
        paths: Image files.
        workers: Processes.
        progress: Show a progress bar.
        steps: Crop grid (:func:`crop_boxes`).

    Returns:
        One hash array or None per path, in order.
    """
    from functools import partial

    from mmengine.utils import track_progress_rich
    if not paths:
        return []
    if progress or workers > 1:
        return track_progress_rich(partial(hash_file, steps=steps),
                                   list(paths), nproc=workers, chunksize=16,
                                   description='Hashing images')
    return [hash_file(path, steps) for path in paths]
