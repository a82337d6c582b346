"""Hue shifts that do not overflow under numpy 2.

Upstream bug (mmcv 2.2.0 ``mmcv.image.photometric.adjust_hue``):
``np_h += np.uint8(hue_factor * 255)`` raises ``OverflowError: Python integer
-6 out of bounds for uint8`` under numpy 2 for any negative ``hue_factor``,
which mmpretrain's ``ColorJitter(hue>0)`` draws about half the time. The fix
wraps the shift modulo 256, which is what numpy 1 did implicitly.
"""
from typing import Optional

import cv2
import mmcv
import mmcv.image
import mmcv.image.photometric as photometric
import numpy as np
from PIL import Image

from ._log import log_once, share_across_processes

_original_adjust_hue = photometric.adjust_hue


def hue_shift(hue_factor: float) -> np.uint8:
    """The uint8 hue-channel shift for ``hue_factor`` in [-0.5, 0.5].

    Args:
        hue_factor: Fraction of a full turn of the hue circle.

    Returns:
        The shift, wrapped into 0..255.
    """
    return np.uint8(int(hue_factor * 255) % 256)


def adjust_hue(img: np.ndarray,
               hue_factor: float,
               backend: Optional[str] = None) -> np.ndarray:
    """Drop-in replacement for :func:`mmcv.adjust_hue` (same arguments).

    Args:
        img: BGR image, uint8.
        hue_factor: Shift of the hue channel, in [-0.5, 0.5].
        backend: 'cv2' or 'pillow'; mmcv's global default when None.

    Returns:
        The hue-shifted image.
    """
    if hue_factor >= 0:
        return _original_adjust_hue(img, hue_factor, backend=backend)
    if not -0.5 <= hue_factor:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    log_once('adjust-hue', 'mmcv.adjust_hue wraps negative hue shifts modulo '
             '256 (numpy 2 overflow fix)')
    backend = backend or photometric.imread_backend
    shift = hue_shift(hue_factor)
    if backend == 'pillow':
        pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8) + shift
        pil_image = Image.merge('HSV', (Image.fromarray(np_h, 'L'), s, v))
        return np.array(pil_image.convert('RGB'), dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv)
    h = h.astype(np.uint8) + shift
    return cv2.cvtColor(cv2.merge([h, s, v]),
                        cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def needs_fix() -> bool:
    """Whether mmcv's ``adjust_hue`` still overflows on a negative shift.

    Returns:
        True when the original raises ``OverflowError`` on a 1x1 image.
    """
    try:
        _original_adjust_hue(np.zeros((1, 1, 3), np.uint8), -0.1, 'cv2')
    except OverflowError:
        return True
    return False


def _rebind(function) -> None:
    photometric.adjust_hue = function
    mmcv.image.adjust_hue = function
    mmcv.adjust_hue = function


def apply() -> None:
    """Install the fixed ``adjust_hue`` (idempotent)."""
    # It runs in data loader workers: one note per run, not one per worker.
    share_across_processes('adjust-hue')
    _rebind(adjust_hue)


def revert() -> None:
    """Restore mmcv's original ``adjust_hue`` (used by tests)."""
    _rebind(_original_adjust_hue)
