"""BACKGROUNDS: random backdrops the fruit groups are pasted on."""
import colorsys
import math
from typing import Callable, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .primitives import RGB, jitter, scale


def random_bg_color(rng: np.random.Generator) -> RGB:
    """A mostly muted colour, sometimes near white."""
    if rng.random() < 0.3:
        v = rng.uniform(0.85, 1.0)
        return jitter((255, 255, 255), 0, 1, v)
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 0.55),
                                  rng.uniform(0.25, 0.95))
    return (int(r * 255), int(g * 255), int(b * 255))


def _bg_solid(size: Tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """One flat colour."""
    return Image.new('RGB', size, random_bg_color(rng))


def _bg_gradient(size: Tuple[int, int],
                 rng: np.random.Generator) -> Image.Image:
    """Linear gradient between two colours at a random angle."""
    c1 = np.array(random_bg_color(rng), np.float32)
    c2 = np.array(random_bg_color(rng), np.float32)
    a = rng.uniform(0, 2 * math.pi)
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = (xs / w - 0.5) * math.cos(a) + (ys / h - 0.5) * math.sin(a)
    f = np.clip(proj + 0.5, 0, 1)[..., None]
    return Image.fromarray((c1 * (1 - f) + c2 * f).astype(np.uint8))


def _bg_noisy(size: Tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Blotchy low-frequency colour noise plus grain."""
    c1 = np.array(random_bg_color(rng), np.float32)
    c2 = np.array(random_bg_color(rng), np.float32)
    k = int(rng.integers(3, 8))
    low = rng.random((k, k, 1)).astype(np.float32)
    small = Image.fromarray((c1 * (1 - low) + c2 * low).astype(np.uint8))
    img = np.asarray(small.resize(size, Image.Resampling.BICUBIC),
                     dtype=np.float32)
    img = img + rng.normal(0, rng.uniform(3, 12), (size[1], size[0], 1))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _bg_pattern(size: Tuple[int, int],
                rng: np.random.Generator) -> Image.Image:
    """Stripes or checks, like a tablecloth."""
    img = _bg_solid(size, rng)
    other = scale(img.getpixel((0, 0)), rng.uniform(0.75, 0.92))
    draw = ImageDraw.Draw(img)
    step = int(max(size) * rng.uniform(0.06, 0.18))
    checks = rng.random() < 0.5
    for i in range(0, max(size) * 2, step * 2):
        draw.rectangle([i, 0, i + step - 1, size[1]], fill=other)
        if checks:
            draw.rectangle([0, i, size[0], i + step - 1], fill=other)
    return img


def _bg_clutter(size: Tuple[int, int],
                rng: np.random.Generator) -> Image.Image:
    """A plain or gradient base with a few random shapes in other colours."""
    img = (_bg_gradient if rng.random() < 0.5 else _bg_solid)(size, rng)
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(int(rng.integers(2, 7))):
        r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.1, 0.9),
                                      rng.uniform(0.2, 1.0))
        color = (int(r * 255), int(g * 255), int(b * 255))
        x, y = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        rx, ry = rng.uniform(0.05, 0.35) * w, rng.uniform(0.05, 0.35) * h
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=color)
        elif kind == 1:
            draw.rectangle([x - rx, y - ry, x + rx, y + ry], fill=color)
        else:
            pts = [(x + rx * math.cos(a), y + ry * math.sin(a))
                   for a in np.sort(rng.uniform(0, 2 * math.pi, 5)).tolist()]
            draw.polygon(pts, fill=color)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.012) * w))


#: Background generators and their weights.
BACKGROUNDS: Tuple[Tuple[Callable[..., Image.Image], float], ...] = (
    (_bg_solid, 0.2), (_bg_gradient, 0.25), (_bg_noisy, 0.2),
    (_bg_clutter, 0.25), (_bg_pattern, 0.1))
