"""MIXES: skin colour mixes, drawn on the RGB skin before texture."""
from functools import partial
from typing import Callable, Dict, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .profiles import Body
from .recipes import Palette


def _mix_none(rgb: Image.Image, body: Body, pal: Palette,
              rng: np.random.Generator) -> None:
    """Leave the skin a single colour."""


def _blobs(rgb: Image.Image, body: Body, pal: Palette,
           rng: np.random.Generator, count: Tuple[int, int],
           size: Tuple[float, float], blur: float) -> None:
    """Paint soft blobs of the second colour on the skin."""
    mask = Image.new('L', rgb.size, 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        x, y = body.xy(rng.uniform(0.1, 0.9), rng.uniform(-0.9, 0.9))
        rx = body.hw * rng.uniform(*size)
        ry = body.hl * rng.uniform(*size)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry],
                     fill=int(rng.uniform(110, 235)))
    mask = mask.filter(ImageFilter.GaussianBlur(blur * body.r0))
    rgb.paste(Image.new('RGB', rgb.size, pal.second), mask=mask)


def _mix_ends(rgb: Image.Image, body: Body, pal: Palette,
              rng: np.random.Generator) -> None:
    """Second colour towards both ends (green banana tips)."""
    size = rgb.size[0]
    ys = (np.arange(size, dtype=np.float64) - body.cy) / body.hl
    strength = rng.uniform(0.3, 1.0)
    ramp = np.clip((np.abs(ys) - 0.55) / 0.4, 0, 1) * strength * 255
    mask = Image.fromarray(
        np.repeat(ramp.astype(np.uint8)[:, None], size, axis=1))
    rgb.paste(Image.new('RGB', rgb.size, pal.second), mask=mask)


#: Ways of applying ``Recipe.color2``.
MIXES: Dict[str, Callable[..., None]] = {
    'none': _mix_none,
    'blush': partial(_blobs, count=(1, 3), size=(0.3, 0.8), blur=0.35),
    'patches': partial(_blobs, count=(3, 6), size=(0.12, 0.3), blur=0.15),
    'ends': _mix_ends,
}
