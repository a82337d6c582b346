#!/usr/bin/env python
"""Generate a small, procedurally drawn stand-in for the fruit30 dataset.

The output has fruit30's layout, one folder per class with the Chinese class
names::

    OUT/train/<class>/*.jpg|*.png
    OUT/val/<class>/*.jpg|*.png
    OUT/demo_meta.json

Every picture is drawn with Pillow from a per-class recipe (shape, colour,
skin texture, stems and leaves, how many fruits and how they are arranged)
on a random background, with random size, scale, position, rotation,
lighting, blur and noise. The goal is a set that is learnable but not
trivial: a small CNN trained from scratch should do far better than chance
but not perfectly, because some classes are made to look alike on purpose
(red / green apple, red / white grape, tomato / cherry tomato, navel orange
/ tangerine).

Output is deterministic: each image's random generator is seeded from
``(seed, split, class index, image index)``, so the same parameters give
byte-identical files whatever the number of workers (with the same numpy,
Pillow and libjpeg versions).

Example::

    python tools/dataset/make_demo_fruit30.py --out data/fruit30_demo
"""
from __future__ import annotations

import argparse
import colorsys
import importlib.util
import json
import math
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import (Callable, Dict, Iterable, List, NamedTuple, Optional,
                    Sequence, Tuple)

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

RGB = Tuple[int, int, int]
Point = Tuple[float, float]
Draw = ImageDraw.ImageDraw
Rng = np.random.Generator

#: Bump when the drawing code changes, so old output is no longer
#: considered up to date.
GENERATOR_VERSION = 1
META_NAME = 'demo_meta.json'
SPLITS: Tuple[str, ...] = ('train', 'val')
SUPERSAMPLE = 3
JPEG_QUALITY = 90
IMAGE_SUFFIXES = ('.jpg', '.png')


def _load_categories() -> ModuleType:
    """Load ``fruit_ext/datasets/categories.py`` without importing fruit_ext.

    Importing the ``fruit_ext`` package pulls in mmengine / mmpretrain,
    which takes seconds; the class table alone is a plain module.

    Returns:
        The categories module.
    """
    path = (Path(__file__).resolve().parents[2] / 'fruit_ext' / 'datasets' /
            'categories.py')
    if path.is_file():
        spec = importlib.util.spec_from_file_location(
            '_fruit30_categories', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module
    import fruit_ext.datasets.categories as module  # installed package
    return module


_CATEGORIES = _load_categories()
FRUIT30_CLASSES: Tuple[str, ...] = tuple(_CATEGORIES.FRUIT30_CLASSES)
FRUIT30_ALIASES: Tuple[str, ...] = tuple(_CATEGORIES.FRUIT30_ALIASES)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _clip01(value: float) -> float:
    """Clamp a float to [0, 1]."""
    return min(1.0, max(0.0, value))


def _jitter(rgb: RGB, dh: float, ds: float, dv: float) -> RGB:
    """Shift a colour's hue and scale its saturation and value.

    Args:
        rgb: Colour to change.
        dh: Hue shift (fraction of the colour wheel).
        ds: Saturation factor.
        dv: Value (brightness) factor.

    Returns:
        The changed colour.
    """
    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    r, g, b = colorsys.hsv_to_rgb((h + dh) % 1.0, _clip01(s * ds),
                                  _clip01(v * dv))
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


def _scale(rgb: RGB, factor: float) -> RGB:
    """Darken (factor < 1) or brighten a colour by multiplying it."""
    return tuple(int(min(255, max(0, round(c * factor)))) for c in rgb)


def _tint(rgb: RGB, amount: float) -> RGB:
    """Blend a colour towards white by ``amount`` (0..1)."""
    return tuple(int(round(c + (255 - c) * amount)) for c in rgb)


def _rgba(rgb: RGB, alpha: float) -> Tuple[int, int, int, int]:
    """Append an alpha value to a colour."""
    return (rgb[0], rgb[1], rgb[2], int(alpha))


def _ellipse_poly(cx: float, cy: float, rx: float, ry: float, angle: float,
                  n: int = 20) -> List[Point]:
    """Polygon of a rotated ellipse.

    Args:
        cx: Centre x.
        cy: Centre y.
        rx: Radius along the rotated x axis.
        ry: Radius along the rotated y axis.
        angle: Rotation in radians.
        n: Number of vertices.

    Returns:
        The vertices.
    """
    ca, sa = math.cos(angle), math.sin(angle)
    pts = []
    for k in range(n):
        a = 2 * math.pi * k / n
        x, y = rx * math.cos(a), ry * math.sin(a)
        pts.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return pts


def _leaf_poly(x0: float, y0: float, angle: float, length: float,
               width: float, n: int = 12) -> List[Point]:
    """Polygon of a pointed leaf from its base along ``angle``.

    Args:
        x0: Base x.
        y0: Base y.
        angle: Direction of the leaf in radians (image coordinates).
        length: Leaf length.
        width: Half width at the widest point.
        n: Vertices per side.

    Returns:
        The vertices.
    """
    ca, sa = math.cos(angle), math.sin(angle)
    left, right = [], []
    for k in range(n + 1):
        tau = k / n
        half = width * math.sin(math.pi * tau) ** 0.8 * (1 - 0.25 * tau)
        px, py = x0 + ca * length * tau, y0 + sa * length * tau
        left.append((px - sa * half, py + ca * half))
        right.append((px + sa * half, py - ca * half))
    return left + right[::-1]


def _composite(dst: Image.Image, src: Image.Image, x: float, y: float) -> None:
    """Alpha-composite ``src`` onto ``dst`` at (x, y), clipping at edges."""
    x, y = int(round(x)), int(round(y))
    left, top = max(0, -x), max(0, -y)
    right = min(src.width, dst.width - x)
    bottom = min(src.height, dst.height - y)
    if right <= left or bottom <= top:
        return
    dst.alpha_composite(src.crop((left, top, right, bottom)),
                        dest=(x + left, y + top))


def _rotate_point(px: float, py: float, size: Tuple[int, int],
                  new_size: Tuple[int, int], degrees: float) -> Point:
    """Where a point lands after ``Image.rotate(degrees, expand=True)``."""
    a = math.radians(degrees)
    dx, dy = px - size[0] / 2, py - size[1] / 2
    return (new_size[0] / 2 + dx * math.cos(a) + dy * math.sin(a),
            new_size[1] / 2 - dx * math.sin(a) + dy * math.cos(a))


# --------------------------------------------------------------------------
# Body shapes
# --------------------------------------------------------------------------
def _bump(t: np.ndarray, centre: float, radius: float) -> np.ndarray:
    """Half-ellipse bump of the given centre and radius along t."""
    return np.sqrt(np.clip(1.0 - ((t - centre) / radius) ** 2, 0.0, 1.0))


def _superellipse(power: float, exponent: Optional[float] = None
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """Profile ``(1 - |u|^power)^exponent`` with ``u = 2t - 1``."""
    exp = 1.0 / power if exponent is None else exponent
    return lambda t: np.clip(1.0 - np.abs(2 * t - 1) ** power, 0, 1) ** exp


def _prof_pear(t: np.ndarray) -> np.ndarray:
    """Small top bulb smoothly joined to a big bottom bulb."""
    a, b = 0.58 * _bump(t, 0.25, 0.25), _bump(t, 0.66, 0.34)
    return (a ** 6 + b ** 6) ** (1 / 6)


def _prof_pomelo(t: np.ndarray) -> np.ndarray:
    """Round fruit with a slightly pointed top."""
    a, b = 0.85 * _bump(t, 0.32, 0.32), _bump(t, 0.56, 0.44)
    return (a ** 4 + b ** 4) ** 0.25


def _prof_carrot(t: np.ndarray) -> np.ndarray:
    """Round shoulder tapering to a point."""
    return np.sqrt(np.clip(t / 0.07, 0, 1)) * np.clip(1 - t, 0, 1) ** 0.85


def _prof_strawberry(t: np.ndarray) -> np.ndarray:
    """Broad rounded top, pointed bottom."""
    top = np.sqrt(np.clip(1 - ((0.3 - t) / 0.3) ** 2, 0, 1))
    bottom = np.clip((1 - t) / 0.7, 0, 1) ** 0.7
    return np.where(t < 0.3, top, bottom)


def _prof_mango(t: np.ndarray) -> np.ndarray:
    """Egg shape, fuller at the bottom."""
    u = 2 * np.clip(t, 0, 1) ** 0.8 - 1
    return np.sqrt(np.clip(1 - u * u, 0, 1))


#: Width profiles w(t), t = 0 at the top (stem end) and 1 at the bottom.
PROFILES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    'ellipse': _superellipse(2.0),
    'squircle': _superellipse(2.6),
    'lemon': _superellipse(2.0, 0.78),
    'capsule': _superellipse(4.0),
    'spindle': _superellipse(2.0, 0.65),
    'banana': _superellipse(2.0, 0.72),
    'pear': _prof_pear,
    'pomelo': _prof_pomelo,
    'carrot': _prof_carrot,
    'strawberry': _prof_strawberry,
    'mango': _prof_mango,
}


@dataclass(frozen=True)
class Body:
    """Geometry of one fruit body in sprite pixel coordinates.

    The long axis is vertical; ``t`` runs from the top (0) to the bottom (1)
    and ``s`` across the visible face from -1 (left) to 1 (right).
    """

    cx: float
    cy: float
    hl: float
    hw: float
    bend: float
    profile: str

    @property
    def r0(self) -> float:
        """The smaller half-extent, used to size details."""
        return min(self.hl, self.hw)

    def width(self, t):
        """Relative half width at ``t``."""
        return PROFILES[self.profile](np.clip(np.asarray(t, float), 0, 1))

    def point(self, t, s):
        """Pixel coordinates of surface position (t, s) (arrays allowed)."""
        t = np.asarray(t, float)
        u = 2 * t - 1
        x = (self.cx + self.bend * self.hl * (1 - u * u) +
             np.asarray(s, float) * self.hw * self.width(t))
        return x, self.cy + u * self.hl

    def xy(self, t: float, s: float) -> Point:
        """Scalar version of :meth:`point`."""
        x, y = self.point(t, s)
        return float(x), float(y)

    def outline(self, n: int = 72) -> List[Point]:
        """Closed outline polygon."""
        t = np.linspace(0, 1, n)
        xl, ys = self.point(t, -1.0)
        xr, _ = self.point(t, 1.0)
        left = list(zip(xl.tolist(), ys.tolist()))
        right = list(zip(xr.tolist(), ys.tolist()))
        return left + right[::-1]


def _sample_ts(rng: np.random.Generator, n: int,
               t_range: Tuple[float, float] = (0.04, 0.96)
               ) -> Tuple[np.ndarray, np.ndarray]:
    """Random surface positions, denser towards the silhouette."""
    t = rng.uniform(t_range[0], t_range[1], n)
    s = np.sin(rng.uniform(-1.45, 1.45, n))
    return t, s


# --------------------------------------------------------------------------
# Recipes
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Palette:
    """The colours of one fruit (already jittered)."""

    base: RGB
    second: RGB
    tex: RGB
    leaf: RGB
    stem: RGB


@dataclass(frozen=True)
class Recipe:
    """How to draw one class.

    Attributes:
        color: Base skin colour.
        profile: Key of :data:`PROFILES`.
        aspect: Range of length / width of the body.
        bend: Range of the sideways bend (fraction of half length).
        color2: Second skin colour used by ``mix``.
        mix: Key of :data:`MIXES` (how ``color2`` is applied).
        textures: Keys of :data:`TEXTURES` drawn on the skin.
        tex_color: Colour used by the textures.
        gloss: Strength of the specular highlight.
        fuzz: Per-pixel noise on the skin (fuzzy skins).
        outline: ``smooth`` or ``spiky``.
        decos: (key of :data:`DECOS`, probability) drawn over the body.
        leaf_color: Leaf / sepal colour.
        stem_color: Stem colour.
        layout: Key of :data:`LAYOUTS` (how many fruits, arranged how).
        count: Range of fruits per group for multi-fruit layouts.
        link: ``none`` / ``twigs`` / ``vine``: stalks joining a scatter.
        scale: Range of group size relative to the image's short side.
        rotate: Maximum absolute rotation in degrees.
        body_frac: Body half extent as a fraction of the sprite.
        shift: Body centre shift down, as a fraction of the sprite.
        jitter: Hue shift, saturation and value factor ranges (+-).
        pair_prob: Probability of a second group in the image.
    """

    color: RGB
    profile: str = 'ellipse'
    aspect: Tuple[float, float] = (0.95, 1.08)
    bend: Tuple[float, float] = (0.0, 0.0)
    color2: Optional[RGB] = None
    mix: str = 'none'
    textures: Tuple[str, ...] = ()
    tex_color: Optional[RGB] = None
    gloss: float = 0.3
    fuzz: float = 0.0
    outline: str = 'smooth'
    decos: Tuple[Tuple[str, float], ...] = ()
    leaf_color: RGB = (60, 135, 45)
    stem_color: RGB = (105, 75, 40)
    layout: str = 'single'
    count: Tuple[int, int] = (1, 1)
    link: str = 'none'
    scale: Tuple[float, float] = (0.5, 0.85)
    rotate: float = 25.0
    body_frac: float = 0.3
    shift: float = 0.0
    jitter: Tuple[float, float, float] = (0.02, 0.15, 0.15)
    pair_prob: float = 0.2


#: One recipe per class, keyed by the English alias.
RECIPES: Dict[str, Recipe] = {
    'hami melon': Recipe(
        color=(214, 196, 112), color2=(168, 178, 88), mix='blush',
        aspect=(1.15, 1.4), textures=('net',), tex_color=(238, 230, 196),
        gloss=0.08, decos=(('stem_stub', 0.6),), scale=(0.6, 0.9)),
    'cherry tomato': Recipe(
        color=(222, 36, 30), aspect=(1.05, 1.25), gloss=0.65,
        decos=(('calyx_small', 0.9),), layout='scatter', count=(3, 7),
        link='vine', rotate=30),
    'mangosteen': Recipe(
        color=(72, 24, 52), profile='squircle', aspect=(0.88, 0.98),
        gloss=0.3, decos=(('rosette', 1.0),), leaf_color=(98, 112, 58),
        layout='scatter', count=(1, 3)),
    'waxberry': Recipe(
        color=(128, 14, 40), textures=('granules',), tex_color=(80, 6, 24),
        gloss=0.12, layout='scatter', count=(2, 6), jitter=(0.02, 0.1, 0.2)),
    'pomelo': Recipe(
        color=(204, 214, 100), profile='pomelo', aspect=(1.0, 1.15),
        textures=('pores',), tex_color=(150, 150, 40), gloss=0.25,
        decos=(('stem_stub', 0.7), ('leaf', 0.3)), scale=(0.65, 0.92)),
    'lemon': Recipe(
        color=(242, 214, 42), profile='lemon', aspect=(1.3, 1.55),
        textures=('pores',), tex_color=(200, 160, 20), gloss=0.35,
        decos=(('leaf', 0.3),), rotate=70, pair_prob=0.3),
    'longan': Recipe(
        color=(186, 146, 88), textures=('speckle',), tex_color=(120, 85, 45),
        gloss=0.1, layout='scatter', count=(5, 12), link='twigs',
        jitter=(0.015, 0.12, 0.12)),
    'pear': Recipe(
        color=(216, 200, 92), color2=(185, 175, 70), mix='blush',
        profile='pear', aspect=(1.3, 1.6), textures=('speckle',),
        tex_color=(150, 112, 58), gloss=0.25,
        decos=(('stem', 0.9), ('leaf', 0.25))),
    'coconut': Recipe(
        color=(118, 78, 44), aspect=(1.0, 1.2), textures=('fibers', 'eyes'),
        tex_color=(70, 44, 22), gloss=0.04, jitter=(0.015, 0.15, 0.2)),
    'durian': Recipe(
        color=(150, 148, 62), aspect=(1.1, 1.35), textures=('scales',),
        tex_color=(92, 88, 36), gloss=0.05, outline='spiky',
        decos=(('stem_thick', 0.8),), scale=(0.6, 0.9)),
    'dragon fruit': Recipe(
        color=(222, 40, 118), aspect=(1.2, 1.45), gloss=0.3,
        decos=(('flames', 1.0),), leaf_color=(126, 176, 52)),
    'kiwi': Recipe(
        color=(136, 102, 58), aspect=(1.2, 1.4), textures=('hairs',),
        tex_color=(92, 66, 34), gloss=0.02, fuzz=9.0, layout='scatter',
        count=(1, 3), rotate=60),
    'pomegranate': Recipe(
        color=(182, 32, 42), color2=(206, 126, 76), mix='patches',
        profile='squircle', aspect=(0.88, 1.0), textures=('speckle',),
        tex_color=(120, 20, 30), gloss=0.3, decos=(('crown_pom', 1.0),)),
    'tangerine': Recipe(
        color=(244, 118, 18), profile='squircle', aspect=(0.76, 0.88),
        textures=('pores',), tex_color=(190, 80, 10), gloss=0.3,
        decos=(('stem_stub', 0.6), ('leaf', 0.45)), layout='scatter',
        count=(1, 4), scale=(0.4, 0.62)),
    'carrot': Recipe(
        color=(240, 118, 22), profile='carrot', aspect=(2.6, 3.6),
        textures=('bands',), tex_color=(190, 82, 10), gloss=0.2,
        decos=(('carrot_top', 0.75),), rotate=90, shift=0.1),
    'navel orange': Recipe(
        color=(246, 156, 32), aspect=(0.98, 1.1), textures=('pores', 'navel'),
        tex_color=(196, 110, 16), gloss=0.3, decos=(('stem_stub', 0.4),),
        scale=(0.62, 0.9)),
    'mango': Recipe(
        color=(240, 190, 52), color2=(226, 104, 50), mix='blush',
        profile='mango', aspect=(1.3, 1.6), bend=(0.08, 0.22),
        textures=('speckle',), tex_color=(160, 120, 40), gloss=0.35,
        decos=(('stem_stub', 0.5),), rotate=60),
    'bitter melon': Recipe(
        color=(118, 178, 78), profile='spindle', aspect=(3.0, 4.0),
        bend=(0.0, 0.12), textures=('warts',), tex_color=(172, 216, 120),
        gloss=0.2, decos=(('stem_stub', 0.7),), rotate=90),
    'red apple': Recipe(
        color=(192, 26, 32), color2=(228, 178, 64), mix='blush',
        profile='squircle', aspect=(0.86, 0.96),
        textures=('streaks', 'lenticels', 'dimple'), tex_color=(120, 10, 20),
        gloss=0.45, decos=(('stem', 0.9), ('leaf', 0.3))),
    'green apple': Recipe(
        color=(142, 198, 62), color2=(196, 210, 84), mix='blush',
        profile='squircle', aspect=(0.86, 0.96),
        textures=('streaks', 'lenticels', 'dimple'), tex_color=(96, 140, 40),
        gloss=0.45, decos=(('stem', 0.9), ('leaf', 0.3))),
    'strawberry': Recipe(
        color=(222, 26, 42), profile='strawberry', aspect=(1.1, 1.3),
        textures=('seeds',), tex_color=(246, 222, 96), gloss=0.45,
        decos=(('calyx_big', 1.0),), leaf_color=(52, 150, 52),
        layout='scatter', count=(1, 3)),
    'lychee': Recipe(
        color=(200, 42, 56), aspect=(1.0, 1.15), textures=('bumps',),
        tex_color=(120, 18, 32), gloss=0.12, decos=(('stem', 0.4),),
        layout='scatter', count=(1, 5), link='twigs'),
    'pineapple': Recipe(
        color=(204, 152, 44), aspect=(1.4, 1.7), textures=('grid',),
        tex_color=(110, 80, 22), gloss=0.08, decos=(('crown', 1.0),),
        leaf_color=(62, 122, 52), body_frac=0.27, shift=0.14),
    'white grape': Recipe(
        color=(186, 206, 108), aspect=(1.05, 1.2), gloss=0.5,
        layout='bunch', leaf_color=(110, 130, 50), rotate=20,
        jitter=(0.02, 0.12, 0.12)),
    'red grape': Recipe(
        color=(112, 24, 58), aspect=(1.05, 1.2), gloss=0.5,
        layout='bunch', leaf_color=(110, 130, 50), rotate=20,
        jitter=(0.02, 0.15, 0.18)),
    'watermelon': Recipe(
        color=(104, 168, 66), aspect=(1.02, 1.35), textures=('stripes',),
        tex_color=(24, 78, 28), gloss=0.35, decos=(('stem_stub', 0.5),),
        scale=(0.6, 0.92)),
    'tomato': Recipe(
        color=(226, 40, 30), profile='squircle', aspect=(0.8, 0.92),
        gloss=0.55, decos=(('calyx', 1.0),), scale=(0.55, 0.88)),
    'cherry': Recipe(
        color=(120, 10, 30), aspect=(0.9, 1.0), textures=('dimple',),
        tex_color=(60, 4, 14), gloss=0.7, layout='stems', count=(1, 4),
        stem_color=(96, 128, 44), jitter=(0.015, 0.12, 0.2)),
    'banana': Recipe(
        color=(242, 212, 60), color2=(160, 184, 60), mix='ends',
        profile='banana', aspect=(3.6, 4.6), bend=(0.3, 0.45),
        textures=('ridges', 'speckle'), tex_color=(110, 80, 30), gloss=0.25,
        decos=(('banana_tips', 1.0),), layout='fan', count=(1, 4),
        rotate=50, jitter=(0.02, 0.12, 0.12)),
    'cucumber': Recipe(
        color=(46, 112, 40), profile='capsule', aspect=(3.6, 5.0),
        bend=(0.0, 0.1), textures=('cuke',), tex_color=(170, 200, 120),
        gloss=0.3, decos=(('stem_stub', 0.7),), rotate=90, pair_prob=0.3),
}

assert set(RECIPES) == set(FRUIT30_ALIASES), 'RECIPES must cover fruit30'


# --------------------------------------------------------------------------
# Skin colour mixes (drawn on the RGB skin before texture)
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# Skin textures (drawn on a transparent overlay)
# --------------------------------------------------------------------------
TextureFn = Callable[[Draw, Body, Palette, Rng], None]


def _dots(draw: ImageDraw.ImageDraw, body: Body, colors: Sequence[RGB],
          rng: np.random.Generator, n: int, radius: Tuple[float, float],
          alpha: Tuple[int, int]) -> None:
    """Scatter round dots over the skin."""
    t, s = _sample_ts(rng, n)
    xs, ys = body.point(t, s)
    rad = body.r0 * rng.uniform(radius[0], radius[1], n)
    alphas = rng.integers(alpha[0], alpha[1], n)
    picks = rng.integers(0, len(colors), n)
    for x, y, r, a, k in zip(xs.tolist(), ys.tolist(), rad.tolist(),
                             alphas.tolist(), picks.tolist()):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_rgba(colors[k], a))


def _tex_pores(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Dense tiny pits (citrus)."""
    _dots(draw, body, [pal.tex], rng, 420, (0.01, 0.024), (60, 150))


def _tex_speckle(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Sparse small dots (pear, longan, mango)."""
    _dots(draw, body, [pal.tex], rng, 90, (0.012, 0.03), (90, 200))


def _tex_lenticels(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Small pale dots (apples)."""
    _dots(draw, body, [_tint(pal.base, 0.5)], rng, 60, (0.01, 0.022),
          (80, 170))


def _tex_granules(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Densely packed dark and light grains (waxberry)."""
    _dots(draw, body, [pal.tex, _tint(pal.base, 0.25), pal.base], rng, 520,
          (0.035, 0.065), (150, 240))


def _tex_net(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Irregular raised net (hami melon)."""
    nt, ns = int(rng.integers(12, 17)), int(rng.integers(9, 13))
    tg = (np.linspace(-0.03, 1.03, nt)[:, None] +
          rng.uniform(-0.35, 0.35, (nt, ns)) / nt)
    phi = (np.linspace(-1.5, 1.5, ns)[None, :] +
           rng.uniform(-0.35, 0.35, (nt, ns)) * 3.0 / ns)
    xs, ys = body.point(np.clip(tg, 0, 1), np.sin(phi))
    width = max(1, int(round(body.r0 * 0.03)))
    color = _rgba(pal.tex, 225)
    for i in range(nt):
        for j in range(ns):
            if i + 1 < nt:
                draw.line([(xs[i, j], ys[i, j]), (xs[i + 1, j], ys[i + 1, j])],
                          fill=color, width=width)
            if j + 1 < ns:
                draw.line([(xs[i, j], ys[i, j]), (xs[i, j + 1], ys[i, j + 1])],
                          fill=color, width=width)


def _tex_stripes(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Jagged dark stripes from pole to pole (watermelon)."""
    total = int(rng.integers(14, 19))
    offset = rng.uniform(0, 2 * math.pi / total)
    tt = np.linspace(0, 1, 40)
    for k in range(total):
        centre = (offset + 2 * math.pi * k / total + math.pi) % (
            2 * math.pi) - math.pi
        if abs(centre) > 1.75:
            continue
        wave = centre + 0.1 * np.sin(tt * rng.uniform(6, 14) +
                                     rng.uniform(0, 6.3))
        half = 0.13 * (0.55 + 0.9 * rng.random(tt.size))
        left = np.sin(np.clip(wave - half, -1.5708, 1.5708))
        right = np.sin(np.clip(wave + half, -1.5708, 1.5708))
        xl, yl = body.point(tt, left)
        xr, yr = body.point(tt, right)
        pts = list(zip(xl.tolist(), yl.tolist())) + list(
            zip(xr.tolist(), yr.tolist()))[::-1]
        draw.polygon(pts, fill=_rgba(pal.tex, 235))


def _grid(rows: int, cols: int, rng: np.random.Generator,
          t_range: Tuple[float, float] = (0.06, 0.96)
          ) -> Iterable[Tuple[float, float, float, float]]:
    """Staggered (t, phi) grid cells: yields t, phi, dt, dphi."""
    dt = (t_range[1] - t_range[0]) / rows
    dphi = 3.0 / cols
    for i in range(rows):
        t = t_range[0] + (i + 0.5) * dt
        for j in range(cols + 1):
            phi = -1.5 + (j + 0.5 * (i % 2)) * dphi
            if abs(phi) < 1.5:
                yield (t + rng.uniform(-0.1, 0.1) * dt,
                       phi + rng.uniform(-0.1, 0.1) * dphi, dt, dphi)


def _tex_seeds(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Yellow seeds in pits (strawberry)."""
    shadow = _rgba(_scale(pal.base, 0.55), 200)
    for t, phi, _, _ in _grid(int(rng.integers(8, 11)), 9, rng,
                              (0.12, 0.97)):
        x, y = body.xy(t, math.sin(phi))
        r = body.r0 * 0.045 * math.cos(phi) ** 0.5 * float(body.width(t)) ** .5
        draw.ellipse([x - r * 0.9, y - r * 0.5, x + r * 0.9, y + r * 1.6],
                     fill=shadow)
        draw.ellipse([x - r * 0.55, y - r, x + r * 0.55, y + r],
                     fill=_rgba(pal.tex, 240))


def _tex_bumps(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Polygonal bumps with dark rims (lychee)."""
    light = _rgba(_tint(pal.base, 0.3), 200)
    rim = _rgba(pal.tex, 210)
    width = max(1, int(round(body.r0 * 0.025)))
    for t, phi, _, _ in _grid(int(rng.integers(9, 12)), 10, rng):
        x, y = body.xy(t, math.sin(phi))
        r = body.r0 * 0.085 * math.cos(phi) ** 0.6
        pts = _ellipse_poly(x, y, r, r, rng.uniform(0, 1), n=6)
        draw.polygon(pts, outline=rim, width=width)
        draw.ellipse([x - r * 0.2, y - r * 0.2, x + r * 0.2, y + r * 0.2],
                     fill=light)


def _tex_warts(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Rows of elongated pale bumps along the length (bitter melon)."""
    light = _tint(pal.tex, 0.1)
    for phi in np.linspace(-1.35, 1.35, 9) + rng.uniform(-0.1, 0.1):
        t = 0.04
        while t < 0.96:
            s = math.sin(phi)
            x, y = body.xy(t, s)
            width = body.hw * float(body.width(t))
            rx = max(1.0, width * 0.11 * math.cos(phi))
            ry = body.hl * rng.uniform(0.025, 0.05)
            draw.ellipse([x - rx, y - ry, x + rx, y + ry],
                         fill=_rgba(light, int(rng.integers(120, 230))))
            t += rng.uniform(0.05, 0.09)


def _tex_cuke(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Faint pale lengthwise stripes and small spines (cucumber)."""
    tt = np.linspace(0.02, 0.98, 30)
    width = max(1, int(round(body.hw * 0.1)))
    for _ in range(int(rng.integers(4, 7))):
        s = math.sin(rng.uniform(-1.2, 1.2))
        xs, ys = body.point(tt, s)
        draw.line(list(zip(xs.tolist(), ys.tolist())),
                  fill=_rgba(pal.tex, 60), width=width)
    _dots(draw, body, [_tint(pal.tex, 0.5), _scale(pal.base, 0.6)], rng, 70,
          (0.03, 0.06), (120, 220))


def _strokes(draw: ImageDraw.ImageDraw, body: Body, colors: Sequence[RGB],
             rng: np.random.Generator, n: int, length: Tuple[float, float],
             spread: float, alpha: Tuple[int, int], width: float) -> None:
    """Short straight strokes, mostly along the long axis."""
    t, s = _sample_ts(rng, n)
    xs, ys = body.point(t, s)
    lengths = body.r0 * rng.uniform(length[0], length[1], n)
    angles = math.pi / 2 + rng.uniform(-spread, spread, n)
    alphas = rng.integers(alpha[0], alpha[1], n)
    picks = rng.integers(0, len(colors), n)
    w = max(1, int(round(body.r0 * width)))
    for x, y, ln, a, al, k in zip(xs.tolist(), ys.tolist(), lengths.tolist(),
                                  angles.tolist(), alphas.tolist(),
                                  picks.tolist()):
        dx, dy = math.cos(a) * ln / 2, math.sin(a) * ln / 2
        draw.line([(x - dx, y - dy), (x + dx, y + dy)],
                  fill=_rgba(colors[k], al), width=w)


def _tex_fibers(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Coarse fibres (husked coconut)."""
    _strokes(draw, body, [pal.tex, _tint(pal.base, 0.3)], rng, 380,
             (0.08, 0.2), 0.6, (140, 230), 0.02)


def _tex_hairs(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Short fine hairs in all directions (kiwi)."""
    _strokes(draw, body, [pal.tex, _tint(pal.base, 0.2)], rng, 600,
             (0.02, 0.06), math.pi, (90, 180), 0.012)


def _tex_ridges(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """A few lengthwise ridges (banana)."""
    tt = np.linspace(0.03, 0.97, 30)
    width = max(1, int(round(body.hw * 0.06)))
    for s in (-0.45, 0.05, 0.55):
        xs, ys = body.point(tt, s + rng.uniform(-0.08, 0.08))
        draw.line(list(zip(xs.tolist(), ys.tolist())),
                  fill=_rgba(_scale(pal.base, 0.8), 110), width=width)


def _tex_grid(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Diamond eyes with dark centres (pineapple)."""
    rim = _rgba(pal.tex, 230)
    width = max(1, int(round(body.r0 * 0.03)))
    rows = int(rng.integers(9, 12))
    for t, phi, dt, dphi in _grid(rows, 8, rng):
        top = body.xy(t - dt / 2, math.sin(phi))
        bottom = body.xy(t + dt / 2, math.sin(phi))
        left = body.xy(t, math.sin(max(-1.57, phi - dphi / 2)))
        right = body.xy(t, math.sin(min(1.57, phi + dphi / 2)))
        shade = rng.uniform(0.85, 1.15)
        draw.polygon([top, right, bottom, left],
                     fill=_rgba(_scale(pal.base, shade), 255), outline=rim,
                     width=width)
        x, y = body.xy(t, math.sin(phi))
        r = body.r0 * 0.05 * math.cos(phi) ** 0.5
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rim)


def _tex_scales(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Pyramid thorn bases (durian)."""
    light = _rgba(_tint(pal.base, 0.2), 255)
    rim = _rgba(pal.tex, 230)
    for t, phi, _, _ in _grid(int(rng.integers(10, 13)), 10, rng):
        x, y = body.xy(t, math.sin(phi))
        r = body.r0 * 0.1 * math.cos(phi) ** 0.5
        pts = [(x, y - r), (x - 0.85 * r, y + 0.6 * r),
               (x + 0.85 * r, y + 0.6 * r)]
        draw.polygon(pts, fill=light, outline=rim)


def _tex_bands(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Short crosswise rings (carrot)."""
    width = max(1, int(round(body.hw * 0.05)))
    for _ in range(26):
        t = rng.uniform(0.05, 0.9)
        phi0 = rng.uniform(-1.3, 0.9)
        phis = np.linspace(phi0, phi0 + rng.uniform(0.3, 0.9), 6)
        xs, ys = body.point(np.full(6, t), np.sin(phis))
        draw.line(list(zip(xs.tolist(), ys.tolist())),
                  fill=_rgba(pal.tex, int(rng.integers(90, 200))), width=width)


def _tex_streaks(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Fine lengthwise streaks (apples)."""
    tt = np.linspace(0.06, 0.95, 16)
    for _ in range(18):
        phi = rng.uniform(-1.4, 1.4) + 0.08 * np.sin(tt * 9 + rng.uniform(0,
                                                                          6))
        xs, ys = body.point(tt, np.sin(phi))
        width = max(1, int(round(body.r0 * rng.uniform(0.01, 0.022))))
        draw.line(list(zip(xs.tolist(), ys.tolist())),
                  fill=_rgba(pal.tex, int(rng.integers(35, 80))), width=width)


def _tex_dimple(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Dark hollow where the stem enters."""
    x, y = body.xy(0.05, 0)
    rx, ry = body.hw * rng.uniform(0.18, 0.28), body.hl * 0.07
    draw.ellipse([x - rx, y - ry, x + rx, y + ry],
                 fill=_rgba(_scale(pal.base, 0.55), 170))


def _tex_navel(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Navel at the blossom end (navel orange)."""
    x, y = body.xy(rng.uniform(0.8, 0.9), rng.uniform(-0.2, 0.2))
    r = body.r0 * rng.uniform(0.07, 0.11)
    draw.ellipse([x - r, y - r * 0.8, x + r, y + r * 0.8],
                 fill=_rgba(_scale(pal.base, 0.72), 220))
    for k in range(6):
        a = k * math.pi / 3
        draw.line([(x, y), (x + math.cos(a) * 1.6 * r,
                            y + math.sin(a) * 1.3 * r)],
                  fill=_rgba(pal.tex, 140), width=max(1, int(r * 0.2)))


def _tex_eyes(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Three dark germination pores (coconut)."""
    for t, s in ((0.12, -0.18), (0.12, 0.18), (0.2, 0.0)):
        x, y = body.xy(t + rng.uniform(-0.02, 0.02), s)
        r = body.r0 * 0.06
        draw.ellipse([x - r, y - r, x + r, y + r],
                     fill=_rgba(_scale(pal.tex, 0.6), 240))


#: Skin textures, drawn in the order listed in ``Recipe.textures``.
TEXTURES: Dict[str, TextureFn] = {
    'pores': _tex_pores,
    'speckle': _tex_speckle,
    'lenticels': _tex_lenticels,
    'granules': _tex_granules,
    'net': _tex_net,
    'stripes': _tex_stripes,
    'seeds': _tex_seeds,
    'bumps': _tex_bumps,
    'warts': _tex_warts,
    'cuke': _tex_cuke,
    'fibers': _tex_fibers,
    'hairs': _tex_hairs,
    'ridges': _tex_ridges,
    'grid': _tex_grid,
    'scales': _tex_scales,
    'bands': _tex_bands,
    'streaks': _tex_streaks,
    'dimple': _tex_dimple,
    'navel': _tex_navel,
    'eyes': _tex_eyes,
}


# --------------------------------------------------------------------------
# Decorations: stems, leaves, crowns (drawn over the shaded body)
# --------------------------------------------------------------------------
def _deco_stem(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """A short woody stem from the top."""
    x0, y0 = body.xy(0.03, 0)
    length = body.r0 * rng.uniform(0.25, 0.42)
    a = -math.pi / 2 + rng.uniform(-0.5, 0.5)
    x1, y1 = x0 + math.cos(a) * length, y0 + math.sin(a) * length
    xm = (x0 + x1) / 2 + rng.uniform(-0.12, 0.12) * length
    draw.line([(x0, y0), (xm, (y0 + y1) / 2), (x1, y1)], fill=pal.stem,
              width=max(2, int(round(body.r0 * 0.07))), joint='curve')


def _deco_stem_stub(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """A short stump at the top."""
    x0, y0 = body.xy(0.0, 0)
    x1, y1 = body.xy(0.08, 0)
    dx, dy = x0 - x1, y0 - y1
    norm = math.hypot(dx, dy) or 1.0
    length = body.r0 * rng.uniform(0.08, 0.16)
    x2, y2 = x0 + dx / norm * length, y0 + dy / norm * length
    draw.line([(x1, y1), (x2, y2)], fill=_scale(pal.stem, 0.9),
              width=max(2, int(round(body.r0 * 0.1))))


def _deco_stem_thick(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """A thick woody stem (durian)."""
    x0, y0 = body.xy(0.02, 0)
    length = body.r0 * rng.uniform(0.2, 0.32)
    a = -math.pi / 2 + rng.uniform(-0.3, 0.3)
    draw.line([(x0, y0), (x0 + math.cos(a) * length,
                          y0 + math.sin(a) * length)],
              fill=pal.stem, width=max(2, int(round(body.r0 * 0.14))))


def _deco_leaf(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """One leaf next to the stem."""
    x0, y0 = body.xy(0.02, 0)
    side = 1 if rng.random() < 0.5 else -1
    a = -math.pi / 2 + side * rng.uniform(0.5, 1.3)
    length = body.r0 * rng.uniform(0.55, 0.85)
    draw.polygon(_leaf_poly(x0, y0, a, length, length * 0.24), fill=pal.leaf)
    draw.line([(x0, y0), (x0 + math.cos(a) * length * 0.9,
                          y0 + math.sin(a) * length * 0.9)],
              fill=_scale(pal.leaf, 0.7),
              width=max(1, int(round(body.r0 * 0.02))))


def _star_calyx(draw: Draw, body: Body, pal: Palette, rng: Rng,
                sepals: Tuple[int, int], length: Tuple[float, float],
                width: float, squash: float) -> None:
    """Star of green sepals lying on the top of the fruit.

    Args:
        draw: Drawer of the sprite.
        body: The fruit body.
        pal: Colours.
        rng: Random generator.
        sepals: Range of sepal count.
        length: Range of sepal length relative to ``body.r0``.
        width: Sepal half width at the base relative to ``body.r0``.
        squash: Vertical foreshortening of the star.
    """
    cx, cy = body.xy(0.03, 0)
    n = int(rng.integers(sepals[0], sepals[1] + 1))
    offset = rng.uniform(0, 2 * math.pi)
    for k in range(n):
        a = offset + 2 * math.pi * k / n + rng.uniform(-0.2, 0.2)
        ln = body.r0 * rng.uniform(*length)
        tip = (cx + math.cos(a) * ln, cy + math.sin(a) * ln * squash +
               0.12 * ln)
        px, py = -math.sin(a) * width * body.r0, math.cos(a) * width * body.r0
        draw.polygon([(cx + px, cy + py * squash), tip,
                      (cx - px, cy - py * squash)],
                     fill=_scale(pal.leaf, rng.uniform(0.85, 1.1)))
    stub = body.r0 * 0.14
    draw.line([(cx, cy), (cx + rng.uniform(-0.3, 0.3) * stub, cy - stub)],
              fill=pal.leaf, width=max(2, int(round(body.r0 * 0.06))))


def _deco_rosette(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Thick rounded sepals with a stub (mangosteen)."""
    cx, cy = body.xy(0.04, 0)
    n = int(rng.integers(4, 6))
    offset = rng.uniform(0, 2 * math.pi)
    for k in range(n):
        a = offset + 2 * math.pi * k / n
        ex = cx + math.cos(a) * body.r0 * 0.2
        ey = cy + math.sin(a) * body.r0 * 0.2 * 0.45
        pts = _ellipse_poly(ex, ey, body.r0 * 0.2, body.r0 * 0.11 * 0.6,
                            math.atan2(math.sin(a) * 0.45, math.cos(a)))
        draw.polygon(pts, fill=_scale(pal.leaf, rng.uniform(0.85, 1.1)),
                     outline=_scale(pal.leaf, 0.6))
    draw.line([(cx, cy), (cx, cy - body.r0 * 0.2)], fill=pal.leaf,
              width=max(2, int(round(body.r0 * 0.09))))


def _deco_crown(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Fan of long spiky leaves (pineapple)."""
    cx, cy = body.xy(0.02, 0)
    room = max(1.0, cy) * 0.95
    leaves = []
    for _ in range(int(rng.integers(12, 20))):
        a = -math.pi / 2 + rng.uniform(-0.95, 0.95)
        ln = room * rng.uniform(0.45, 1.0) * (1 - 0.35 * abs(a + math.pi / 2))
        bx = cx + rng.uniform(-0.25, 0.25) * body.hw
        leaves.append((ln, a, bx))
    leaves.sort(key=lambda leaf: -leaf[0])
    for ln, a, bx in leaves:
        tip = (bx + math.cos(a) * ln, cy + math.sin(a) * ln)
        half = body.hw * 0.09
        px, py = -math.sin(a) * half, math.cos(a) * half
        mid = (bx + math.cos(a) * ln * 0.5 + px * 0.7,
               cy + math.sin(a) * ln * 0.5 + py * 0.7)
        draw.polygon([(bx + px, cy + py), mid, tip, (bx - px, cy - py)],
                     fill=_scale(pal.leaf, rng.uniform(0.75, 1.2)),
                     outline=_scale(pal.leaf, 0.6))


def _deco_crown_pom(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Small toothed crown (pomegranate)."""
    cx, cy = body.xy(0.03, 0)
    half, height = body.r0 * rng.uniform(0.12, 0.17), body.r0 * 0.2
    color = _scale(pal.base, 0.75)
    draw.polygon([(cx - half, cy), (cx - half * 0.8, cy - height),
                  (cx + half * 0.8, cy - height), (cx + half, cy)],
                 fill=color)
    teeth = int(rng.integers(5, 7))
    for k in range(teeth):
        x = cx - half * 0.9 + 1.8 * half * k / (teeth - 1)
        draw.polygon([(x - half * 0.25, cy - height),
                      (x + (x - cx) * 0.3, cy - height * 1.75),
                      (x + half * 0.25, cy - height)],
                     fill=_scale(color, rng.uniform(0.8, 1.0)))


def _deco_carrot_top(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Feathery stalks or a cut stump (carrot)."""
    cx, cy = body.xy(0.01, 0)
    if rng.random() < 0.35:
        r = body.hw * 0.45
        draw.ellipse([cx - r, cy - r * 0.4, cx + r, cy + r * 0.4],
                     fill=_scale(pal.leaf, 0.8))
        return
    room = max(1.0, cy) * 0.95
    width = max(2, int(round(body.hw * 0.12)))
    for _ in range(int(rng.integers(3, 7))):
        a = -math.pi / 2 + rng.uniform(-0.6, 0.6)
        ln = room * rng.uniform(0.5, 1.0)
        x1, y1 = cx + math.cos(a) * ln, cy + math.sin(a) * ln
        draw.line([(cx, cy), (x1, y1)], fill=pal.leaf, width=width)
        for f in np.linspace(0.35, 0.95, 5).tolist():
            px, py = cx + math.cos(a) * ln * f, cy + math.sin(a) * ln * f
            for side in (-1, 1):
                la = a + side * 0.9
                draw.polygon(_leaf_poly(px, py, la, ln * 0.16, ln * 0.04, 6),
                             fill=_scale(pal.leaf, 1.1))


def _deco_flames(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Leafy bracts, pink at the base and green at the tip (dragon fruit)."""
    pink = _tint(pal.base, 0.15)
    spots = [(rng.uniform(0.05, 0.95), rng.uniform(-1.0, 1.0))
             for _ in range(int(rng.integers(10, 16)))]
    spots += [(0.0, rng.uniform(-0.3, 0.3)) for _ in range(3)]
    for t, s in spots:
        bx, by = body.xy(t, s * 0.92)
        ox = s * body.hw
        oy = (2 * t - 1) * body.hl
        norm = math.hypot(ox, oy) or 1.0
        dx, dy = ox / norm + 0.0, oy / norm - 0.9
        dn = math.hypot(dx, dy) or 1.0
        dx, dy = dx / dn, dy / dn
        ln = body.hw * rng.uniform(0.25, 0.45)
        half = body.hw * rng.uniform(0.08, 0.13)
        px, py = -dy * half, dx * half
        tip = (bx + dx * ln, by + dy * ln)
        draw.polygon([(bx + px, by + py), tip, (bx - px, by - py)], fill=pink)
        f = 0.55
        draw.polygon([(bx + px * (1 - f) + dx * ln * f,
                       by + py * (1 - f) + dy * ln * f), tip,
                      (bx - px * (1 - f) + dx * ln * f,
                       by - py * (1 - f) + dy * ln * f)], fill=pal.leaf)


def _deco_banana_tips(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Stalk at the top and a dark tip at the bottom (banana)."""
    x0, y0 = body.xy(0.0, 0)
    x1, y1 = body.xy(0.07, 0)
    dx, dy = x0 - x1, y0 - y1
    norm = math.hypot(dx, dy) or 1.0
    length = body.hl * rng.uniform(0.12, 0.2)
    draw.line([(x1, y1), (x0 + dx / norm * length, y0 + dy / norm * length)],
              fill=_scale(pal.second, 0.8),
              width=max(2, int(round(body.hw * 0.32))))
    xb, yb = body.xy(0.99, 0)
    r = body.hw * 0.14
    draw.ellipse([xb - r, yb - r, xb + r, yb + r], fill=(58, 44, 26))


#: Decorations drawn over the shaded body.
DECOS: Dict[str, TextureFn] = {
    'stem': _deco_stem,
    'stem_stub': _deco_stem_stub,
    'stem_thick': _deco_stem_thick,
    'leaf': _deco_leaf,
    'calyx': partial(_star_calyx, sepals=(5, 6), length=(0.28, 0.42),
                     width=0.08, squash=0.4),
    'calyx_small': partial(_star_calyx, sepals=(5, 6), length=(0.3, 0.45),
                           width=0.07, squash=0.45),
    'calyx_big': partial(_star_calyx, sepals=(7, 9), length=(0.45, 0.65),
                         width=0.14, squash=0.5),
    'rosette': _deco_rosette,
    'crown': _deco_crown,
    'crown_pom': _deco_crown_pom,
    'carrot_top': _deco_carrot_top,
    'flames': _deco_flames,
    'banana_tips': _deco_banana_tips,
}


# --------------------------------------------------------------------------
# Rendering one fruit
# --------------------------------------------------------------------------
def _make_palette(recipe: Recipe, rng: np.random.Generator) -> Palette:
    """Jitter the recipe's colours once for a group of fruits."""
    hj, sj, vj = recipe.jitter
    dh = rng.uniform(-hj, hj)
    ds, dv = 1 + rng.uniform(-sj, sj), 1 + rng.uniform(-vj, vj)
    base = recipe.color
    second = recipe.color2 or _scale(base, 0.8)
    tex = recipe.tex_color or _scale(base, 0.7)
    leaf = _jitter(recipe.leaf_color, rng.uniform(-0.03, 0.03),
                   1 + rng.uniform(-0.15, 0.15), 1 + rng.uniform(-0.2, 0.2))
    stem = _jitter(recipe.stem_color, 0, 1, 1 + rng.uniform(-0.2, 0.2))
    return Palette(*(_jitter(c, dh, ds, dv) for c in (base, second, tex)),
                   leaf=leaf, stem=stem)


def _vary(pal: Palette, rng: np.random.Generator, amount: float) -> Palette:
    """Slightly different colours for one member of a group."""
    dh = rng.uniform(-amount, amount) * 0.3
    dv = 1 + rng.uniform(-amount, amount)
    return Palette(_jitter(pal.base, dh, 1, dv), _jitter(pal.second, dh, 1,
                                                         dv),
                   _jitter(pal.tex, dh, 1, dv), pal.leaf, pal.stem)


def _add_spikes(mask: Image.Image, rgb: Image.Image, body: Body,
                pal: Palette, rng: np.random.Generator) -> None:
    """Thorns along the silhouette (durian)."""
    pts = body.outline(int(rng.integers(24, 32)))
    mdraw, cdraw = ImageDraw.Draw(mask), ImageDraw.Draw(rgb)
    mx, my = body.xy(0.5, 0)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]):
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        nx, ny = xm - mx, ym - my
        norm = math.hypot(nx, ny) or 1.0
        ln = body.r0 * rng.uniform(0.12, 0.2)
        tri = [(x0, y0), (xm + nx / norm * ln, ym + ny / norm * ln), (x1, y1)]
        mdraw.polygon(tri, fill=255)
        cdraw.polygon(tri, fill=_scale(pal.base, 0.85))


def _shade(rgb: Image.Image, mask: Image.Image, body: Body, gloss: float,
           fuzz: float, light: Point, rng: np.random.Generator
           ) -> Image.Image:
    """Give a flat skin volume: rim darkening, key light and a highlight.

    Args:
        rgb: Flat skin colour with texture.
        mask: Body silhouette.
        body: Body geometry.
        gloss: Highlight strength.
        fuzz: Per-pixel noise amplitude.
        light: Light position relative to the body, in half extents.
        rng: Random generator.

    Returns:
        The shaded body as RGBA.
    """
    size = rgb.size[0]
    arr = np.asarray(rgb, dtype=np.float32)
    soft = np.asarray(
        mask.filter(ImageFilter.GaussianBlur(max(1.0, 0.2 * body.r0))),
        dtype=np.float32) / 255.0
    rim = 0.5 + 0.5 * np.sqrt(np.clip(soft * 2.0 - 1.0, 0.0, 1.0))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    mx, my = body.xy(0.5, 0)
    lx, ly = mx + light[0] * body.hw, my + light[1] * body.hl
    d2 = ((xs - lx) / body.hw) ** 2 + ((ys - ly) / body.hl) ** 2
    out = arr * (rim * np.clip(1.15 - 0.16 * d2, 0.6, 1.15))[..., None]
    if gloss > 0:
        spec = gloss * np.exp(-d2 / 0.05)
        out += (255.0 - out) * spec[..., None]
    if fuzz > 0:
        out += rng.normal(0.0, fuzz, (size, size, 1)).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    return Image.fromarray(np.dstack([out, np.asarray(mask)]))


def _render_item(recipe: Recipe, pal: Palette, side: int,
                 rng: np.random.Generator, light: Point
                 ) -> Tuple[Image.Image, Point]:
    """Draw one fruit in a square transparent sprite.

    Args:
        recipe: Class recipe.
        pal: Colours.
        side: Sprite side in pixels.
        rng: Random generator.
        light: Light position relative to the body.

    Returns:
        The RGBA sprite and the stem point (top of the body).
    """
    side = max(8, int(side))
    aspect = rng.uniform(*recipe.aspect)
    extent = recipe.body_frac * side
    hl, hw = (extent, extent / aspect) if aspect >= 1 else (extent * aspect,
                                                             extent)
    bend = rng.uniform(*recipe.bend)
    body = Body(side / 2, side / 2 + recipe.shift * side, hl, hw, bend,
                recipe.profile)
    mask = Image.new('L', (side, side), 0)
    ImageDraw.Draw(mask).polygon(body.outline(), fill=255)
    rgb = Image.new('RGB', (side, side), pal.base)
    MIXES[recipe.mix](rgb, body, pal, rng)
    if recipe.outline == 'spiky':
        _add_spikes(mask, rgb, body, pal, rng)
    if recipe.textures:
        overlay = Image.new('RGBA', (side, side), (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        for name in recipe.textures:
            TEXTURES[name](draw, body, pal, rng)
        rgb = Image.alpha_composite(rgb.convert('RGBA'), overlay).convert(
            'RGB')
    sprite = _shade(rgb, mask, body, recipe.gloss, recipe.fuzz, light, rng)
    draw = ImageDraw.Draw(sprite)
    for name, prob in recipe.decos:
        if rng.random() < prob:
            DECOS[name](draw, body, pal, rng)
    return sprite, body.xy(0, 0)


# --------------------------------------------------------------------------
# Layouts: one or more fruits in a square group canvas
# --------------------------------------------------------------------------
def _layout_single(recipe: Recipe, pal: Palette, size: int,
                   rng: np.random.Generator, light: Point) -> Image.Image:
    """A single fruit."""
    return _render_item(recipe, pal, size, rng, light)[0]


def _spread(n: int, diameter: float, size: int,
            rng: np.random.Generator) -> List[Point]:
    """Random centres for n fruits of a diameter, avoiding heavy overlap."""
    lo, hi = diameter / 2 + 0.04 * size, size - diameter / 2 - 0.04 * size
    lo, hi = min(lo, size / 2), max(hi, size / 2)
    centres: List[Point] = []
    for _ in range(n):
        best = (rng.uniform(lo, hi), rng.uniform(lo, hi))
        for _ in range(40):
            if all(math.hypot(best[0] - x, best[1] - y) > 0.75 * diameter
                   for x, y in centres):
                break
            best = (rng.uniform(lo, hi), rng.uniform(lo, hi))
        centres.append(best)
    return centres


def _draw_links(group: Image.Image, anchors: Sequence[Point], recipe: Recipe,
                pal: Palette, rng: np.random.Generator, apex: Point,
                width: float) -> None:
    """Stalks from a common apex to each fruit's stem point."""
    color = pal.leaf if recipe.link == 'vine' else pal.stem
    draw = ImageDraw.Draw(group)
    for x, y in anchors:
        mid = ((apex[0] + x) / 2 + rng.uniform(-0.1, 0.1) * group.width,
               (apex[1] + y) / 2 + rng.uniform(-0.05, 0.05) * group.height)
        draw.line([apex, mid, (x, y)], fill=color,
                  width=max(2, int(round(width))), joint='curve')


def _layout_scatter(recipe: Recipe, pal: Palette, size: int,
                    rng: np.random.Generator, light: Point) -> Image.Image:
    """A loose heap of several fruits, optionally joined by twigs."""
    n = int(rng.integers(recipe.count[0], recipe.count[1] + 1))
    diameter = size * min(0.72, math.sqrt(0.5 / n))
    side = int(diameter / (2 * recipe.body_frac))
    centres = _spread(n, diameter, size, rng)
    group = Image.new('RGBA', (size, size), (0, 0, 0, 0))
    items = []
    for cx, cy in centres:
        sprite, (ax, ay) = _render_item(recipe, _vary(pal, rng, 0.06), side,
                                        rng, light)
        x0, y0 = cx - side / 2, cy - side / 2
        items.append((cy, sprite, x0, y0, (x0 + ax, y0 + ay)))
    if recipe.link != 'none' and n > 1 and rng.random() < 0.75:
        apex = (size / 2 + rng.uniform(-0.15, 0.15) * size, 0.03 * size)
        _draw_links(group, [it[4] for it in items], recipe, pal, rng, apex,
                    size * 0.012)
    for _, sprite, x0, y0, _ in sorted(items, key=lambda it: it[0]):
        _composite(group, sprite, x0, y0)
    return group


def _layout_stems(recipe: Recipe, pal: Palette, size: int,
                  rng: np.random.Generator, light: Point) -> Image.Image:
    """Fruits hanging on long stems from one point (cherries)."""
    n = int(rng.integers(recipe.count[0], recipe.count[1] + 1))
    diameter = size * min(0.42, 0.9 / max(n, 1.5))
    side = int(diameter / (2 * recipe.body_frac))
    apex = (size / 2 + rng.uniform(-0.1, 0.1) * size, 0.06 * size)
    group = Image.new('RGBA', (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(group)
    items = []
    for k in range(n):
        cx = size / 2 + (k - (n - 1) / 2) * diameter * rng.uniform(0.8, 1.05)
        cy = size - diameter / 2 - rng.uniform(0.05, 0.3) * size
        sprite, (ax, ay) = _render_item(recipe, _vary(pal, rng, 0.06), side,
                                        rng, light)
        x0, y0 = cx - side / 2, cy - side / 2
        anchor = (x0 + ax, y0 + ay)
        bow = rng.uniform(-0.12, 0.12) * size
        pts = [(apex[0] + (anchor[0] - apex[0]) * f + bow * 4 * f * (1 - f),
                apex[1] + (anchor[1] - apex[1]) * f) for f in
               np.linspace(0, 1, 9).tolist()]
        draw.line(pts, fill=pal.stem, width=max(2, int(size * 0.014)),
                  joint='curve')
        items.append((sprite, x0, y0))
    for sprite, x0, y0 in items:
        _composite(group, sprite, x0, y0)
    return group


def _layout_bunch(recipe: Recipe, pal: Palette, size: int,
                  rng: np.random.Generator, light: Point) -> Image.Image:
    """A tapering bunch of berries on a stalk (grapes)."""
    rows, widest = int(rng.integers(5, 8)), int(rng.integers(4, 6))
    diameter = size * 0.82 / max(rows * 0.82, widest * 0.88)
    side = int(diameter / (2 * recipe.body_frac))
    variants = [_render_item(recipe, _vary(pal, rng, 0.08), side, rng,
                             light)[0] for _ in range(4)]
    group = Image.new('RGBA', (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(group)
    top = 0.12 * size
    stalk = (size / 2 + rng.uniform(-0.05, 0.05) * size, 0.02 * size)
    draw.line([stalk, (size / 2, top + diameter * 0.8)], fill=pal.leaf,
              width=max(2, int(size * 0.025)))
    places = []
    for r in range(rows):
        k = max(1, int(round(widest * (1 - (r / rows) ** 1.4))))
        for j in range(k):
            x = size / 2 + (j - (k - 1) / 2) * diameter * 0.86 + rng.uniform(
                -0.12, 0.12) * diameter
            y = top + diameter / 2 + r * diameter * 0.8 + rng.uniform(
                -0.1, 0.1) * diameter
            places.append((rng.random(), x, y))
    for _, x, y in sorted(places):
        sprite = variants[int(rng.integers(0, len(variants)))]
        _composite(group, sprite, x - side / 2, y - side / 2)
    return group


def _layout_fan(recipe: Recipe, pal: Palette, size: int,
                rng: np.random.Generator, light: Point) -> Image.Image:
    """Long fruits fanned out from one stalk (a hand of bananas)."""
    n = int(rng.integers(recipe.count[0], recipe.count[1] + 1))
    side = int(size * 0.95)
    apex = (size / 2, 0.12 * size)
    spread = rng.uniform(12, 22)
    group = Image.new('RGBA', (size, size), (0, 0, 0, 0))
    mirror = rng.random() < 0.5
    for k in range(n):
        sprite, anchor = _render_item(recipe, _vary(pal, rng, 0.05), side,
                                      rng, light)
        if mirror:
            sprite = sprite.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            anchor = (sprite.width - anchor[0], anchor[1])
        angle = (k - (n - 1) / 2) * spread + rng.uniform(-4, 4)
        rotated = sprite.convert('RGBa').rotate(
            angle, resample=Image.Resampling.BICUBIC,
            expand=True).convert('RGBA')
        ax, ay = _rotate_point(anchor[0], anchor[1], sprite.size,
                               rotated.size, angle)
        _composite(group, rotated, apex[0] - ax, apex[1] - ay)
    return group


#: Group layouts, keyed by ``Recipe.layout``.
LAYOUTS: Dict[str, Callable[..., Image.Image]] = {
    'single': _layout_single,
    'scatter': _layout_scatter,
    'stems': _layout_stems,
    'bunch': _layout_bunch,
    'fan': _layout_fan,
}


# --------------------------------------------------------------------------
# Backgrounds
# --------------------------------------------------------------------------
def _random_bg_color(rng: np.random.Generator) -> RGB:
    """A mostly muted colour, sometimes near white."""
    if rng.random() < 0.3:
        v = rng.uniform(0.85, 1.0)
        return _jitter((255, 255, 255), 0, 1, v)
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 0.55),
                                  rng.uniform(0.25, 0.95))
    return (int(r * 255), int(g * 255), int(b * 255))


def _bg_solid(size: Tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """One flat colour."""
    return Image.new('RGB', size, _random_bg_color(rng))


def _bg_gradient(size: Tuple[int, int],
                 rng: np.random.Generator) -> Image.Image:
    """Linear gradient between two colours at a random angle."""
    c1 = np.array(_random_bg_color(rng), np.float32)
    c2 = np.array(_random_bg_color(rng), np.float32)
    a = rng.uniform(0, 2 * math.pi)
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = (xs / w - 0.5) * math.cos(a) + (ys / h - 0.5) * math.sin(a)
    f = np.clip(proj + 0.5, 0, 1)[..., None]
    return Image.fromarray((c1 * (1 - f) + c2 * f).astype(np.uint8))


def _bg_noisy(size: Tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Blotchy low-frequency colour noise plus grain."""
    c1 = np.array(_random_bg_color(rng), np.float32)
    c2 = np.array(_random_bg_color(rng), np.float32)
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
    other = _scale(img.getpixel((0, 0)), rng.uniform(0.75, 0.92))
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


# --------------------------------------------------------------------------
# Whole image
# --------------------------------------------------------------------------
def _prepare_group(group: Image.Image, target: float, angle: float,
                   box: Tuple[float, float]) -> Optional[Image.Image]:
    """Rotate a group, crop it to its content and scale it.

    Args:
        group: The group (RGBA).
        target: Wanted length of the long side.
        angle: Rotation in degrees.
        box: (width, height) the group must fit in.

    Returns:
        The prepared group, or None if it is empty.
    """
    group = group.convert('RGBa').rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True).convert('RGBA')
    bbox = group.getchannel('A').getbbox()
    if bbox is None:
        return None
    group = group.crop(bbox)
    factor = min(target / max(group.size), box[0] / group.width,
                 box[1] / group.height)
    new = (max(1, int(round(group.width * factor))),
           max(1, int(round(group.height * factor))))
    return group.resize(new, Image.Resampling.LANCZOS)


def _paste_with_shadow(canvas: Image.Image, group: Image.Image, x: int,
                       y: int, rng: np.random.Generator) -> None:
    """Paste a group with a soft drop shadow under it."""
    alpha = group.getchannel('A')
    pad = max(2, int(0.12 * max(group.size)))
    shadow = Image.new('L', (group.width + 2 * pad, group.height + 2 * pad), 0)
    shadow.paste(alpha, (pad, pad))
    strength = rng.uniform(0.15, 0.5)
    lut = [int(v * strength) for v in range(256)]
    shadow = shadow.filter(ImageFilter.GaussianBlur(pad * 0.4)).point(lut)
    dx, dy = (int(rng.uniform(-0.03, 0.06) * group.width),
              int(rng.uniform(0.0, 0.07) * group.height))
    canvas.paste((0, 0, 0), (x - pad + dx, y - pad + dy,
                             x - pad + dx + shadow.width,
                             y - pad + dy + shadow.height), mask=shadow)
    canvas.paste(group.convert('RGB'), (x, y), mask=alpha)


def _postprocess(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Camera-ish changes: exposure, contrast, white balance, blur, noise."""
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.75, 1.25))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.75, 1.25))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.75, 1.25))
    arr = np.asarray(img, dtype=np.float32) * (
        1 + rng.uniform(-0.06, 0.06, 3)).astype(np.float32)
    if rng.random() < 0.35:
        arr = arr + rng.normal(0, rng.uniform(2, 7), arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    return img


def render_image(cls: int, size: Tuple[int, int],
                 rng: np.random.Generator) -> Image.Image:
    """Draw one picture of a class.

    Args:
        cls: Class index into :data:`FRUIT30_CLASSES`.
        size: Output (width, height).
        rng: Random generator (the only source of randomness).

    Returns:
        The RGB picture.
    """
    recipe = RECIPES[FRUIT30_ALIASES[cls]]
    cw, ch = size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE
    weights = np.array([w for _, w in BACKGROUNDS])
    pick = int(rng.choice(len(BACKGROUNDS), p=weights / weights.sum()))
    canvas = BACKGROUNDS[pick][0]((cw, ch), rng)
    light = (rng.uniform(-0.5, 0.5), rng.uniform(-0.6, -0.2))
    groups = 2 if rng.random() < recipe.pair_prob else 1
    # Groups are sized from the image's mean side, then shrunk to fit
    # their region (the canvas, or one half of it along the long side).
    mean_side = math.sqrt(cw * ch)
    box = ((cw / groups, ch) if cw >= ch else (cw, ch / groups))
    for g in range(groups):
        target = rng.uniform(*recipe.scale) * mean_side
        if groups == 2:
            target *= 0.72
        render_side = int(min(900, target / 0.75))
        pal = _make_palette(recipe, rng)
        group = LAYOUTS[recipe.layout](recipe, pal, render_side, rng, light)
        group = _prepare_group(group, target,
                               rng.uniform(-recipe.rotate, recipe.rotate),
                               (box[0] * 0.97, box[1] * 0.97))
        if group is None:
            continue
        # Split the canvas along its long side when there are two groups.
        if cw >= ch:
            lo, hi = cw * g / groups, cw * (g + 1) / groups
            cx, cy = rng.uniform(lo + group.width * 0.4,
                                 hi - group.width * 0.4), rng.uniform(
                group.height * 0.4, ch - group.height * 0.4)
        else:
            lo, hi = ch * g / groups, ch * (g + 1) / groups
            cx, cy = rng.uniform(group.width * 0.4,
                                 cw - group.width * 0.4), rng.uniform(
                lo + group.height * 0.4, hi - group.height * 0.4)
        _paste_with_shadow(canvas, group, int(cx - group.width / 2),
                           int(cy - group.height / 2), rng)
    img = canvas.resize(size, Image.Resampling.LANCZOS)
    return _postprocess(img, rng)


# --------------------------------------------------------------------------
# Jobs, files and metadata
# --------------------------------------------------------------------------
class Job(NamedTuple):
    """One image to generate."""

    out: str
    split_id: int
    cls: int
    index: int
    seed: int
    min_size: int
    max_size: int
    png_ratio: float


def _file_stem(cls: int, index: int) -> str:
    """File name (without suffix) of an image."""
    return f'{FRUIT30_ALIASES[cls].replace(" ", "_")}_{index:04d}'


def make_one(job: Job) -> Tuple[str, int]:
    """Generate and save one image (runs in a worker process).

    Args:
        job: What to generate.

    Returns:
        The file's path relative to the output root, and its size in bytes.
    """
    rng = np.random.default_rng([job.seed, job.split_id, job.cls, job.index])
    as_png = rng.random() < job.png_ratio
    width = int(rng.integers(job.min_size, job.max_size + 1))
    height = int(rng.integers(job.min_size, job.max_size + 1))
    if rng.random() < 0.3:
        height = width
    img = render_image(job.cls, (width, height), rng)
    rel = Path(SPLITS[job.split_id], FRUIT30_CLASSES[job.cls],
               _file_stem(job.cls, job.index) + ('.png' if as_png else '.jpg'))
    path = Path(job.out) / rel
    if as_png:
        img.save(path, 'PNG', compress_level=6)
    else:
        img.save(path, 'JPEG', quality=JPEG_QUALITY, subsampling='4:2:0',
                 optimize=False, progressive=False)
    return str(rel), path.stat().st_size


def _params(args: argparse.Namespace) -> Dict[str, object]:
    """The parameters that determine the output (workers excluded)."""
    return {
        'generator_version': GENERATOR_VERSION,
        'seed': args.seed,
        'train_per_class': args.train_per_class,
        'val_per_class': args.val_per_class,
        'min_size': args.min_size,
        'max_size': args.max_size,
        'png_ratio': args.png_ratio,
        'jpeg_quality': JPEG_QUALITY,
        'classes': list(FRUIT30_CLASSES),
    }


def _count_files(out: Path) -> int:
    """Number of images under ``OUT/<split>/<class>/``."""
    total = 0
    for split in SPLITS:
        for name in FRUIT30_CLASSES:
            folder = out / split / name
            if folder.is_dir():
                total += sum(1 for p in folder.iterdir()
                             if p.suffix in IMAGE_SUFFIXES)
    return total


def _read_meta(out: Path) -> Optional[dict]:
    """The metadata file's content, or None if missing or unreadable."""
    try:
        return json.loads((out / META_NAME).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def _write_meta(out: Path, params: Dict[str, object], complete: bool,
                counts: Dict[str, int]) -> None:
    """Write ``OUT/demo_meta.json``."""
    meta = {
        'generator': 'tools/dataset/make_demo_fruit30.py',
        'params': params,
        'complete': complete,
        'num_files': sum(counts.values()),
        'counts': counts,
    }
    (out / META_NAME).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + '\n',
        encoding='utf-8')


def check_out(out: Path, params: Dict[str, object]) -> str:
    """Classify the output folder.

    Args:
        out: Output folder.
        params: The wanted parameters.

    Returns:
        ``'empty'`` (missing or empty), ``'up_to_date'`` (complete set with
        these parameters), ``'partial'`` (our own unfinished or damaged set
        with these parameters) or ``'conflict'`` (anything else).
    """
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return 'empty'
    meta = _read_meta(out)
    if meta is None or meta.get('params') != params:
        return 'conflict'
    if meta.get('complete') and _count_files(out) == meta.get('num_files'):
        return 'up_to_date'
    return 'partial'


def _clean(out: Path) -> None:
    """Remove what this tool writes (splits and metadata), nothing else."""
    for split in SPLITS:
        if (out / split).is_dir():
            shutil.rmtree(out / split)
    (out / META_NAME).unlink(missing_ok=True)


def _run_jobs(jobs: List[Job], workers: int) -> List[Tuple[str, int]]:
    """Run the jobs, in worker processes if ``workers > 1``, with progress."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                               TextColumn, TimeElapsedColumn)
    results = []
    columns = (TextColumn('[bold]fruit30 demo'), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task('generate', total=len(jobs))
        if workers <= 1:
            for job in jobs:
                results.append(make_one(job))
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                chunk = max(1, min(16, len(jobs) // (workers * 8)))
                for result in pool.map(make_one, jobs, chunksize=chunk):
                    results.append(result)
                    progress.advance(task)
    return results


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Generate a procedural stand-in for the fruit30 dataset '
        '(OUT/train/<class>/*.jpg, OUT/val/<class>/*.jpg).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='data/fruit30_demo',
                        help='output folder (default: %(default)s)')
    parser.add_argument('--train-per-class', type=int, default=24,
                        help='training images per class (default: '
                        '%(default)s)')
    parser.add_argument('--val-per-class', type=int, default=8,
                        help='validation images per class (default: '
                        '%(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default: %(default)s)')
    parser.add_argument('--min-size', type=int, default=72,
                        help='smallest image side (default: %(default)s)')
    parser.add_argument('--max-size', type=int, default=160,
                        help='largest image side (default: %(default)s)')
    parser.add_argument('--png-ratio', type=float, default=0.1,
                        help='fraction of images saved as PNG (default: '
                        '%(default)s)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='worker processes (the CPU count here)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if OUT is up to date or holds '
                        'other content (removes OUT/train, OUT/val and the '
                        'metadata file first)')
    args = parser.parse_args(argv)
    if args.train_per_class < 0 or args.val_per_class < 0:
        parser.error('--train-per-class and --val-per-class must be >= 0')
    if not 16 <= args.min_size <= args.max_size:
        parser.error('need 16 <= --min-size <= --max-size')
    if not 0.0 <= args.png_ratio <= 1.0:
        parser.error('--png-ratio must be within [0, 1]')
    if args.seed < 0:
        parser.error('--seed must be >= 0')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status.
    """
    args = parse_args(argv)
    out = Path(args.out)
    params = _params(args)
    state = check_out(out, params)
    if state == 'up_to_date' and not args.force:
        print(f'{out} is up to date ({_count_files(out)} images, seed '
              f'{args.seed}); nothing to do (use --force to regenerate).')
        return 0
    if state == 'conflict' and not args.force:
        print(f'error: {out} already exists and was not made by this tool '
              f'with these parameters (no matching {META_NAME}). Use '
              '--force to replace its train/ and val/ folders, or pick '
              'another --out.', file=sys.stderr)
        return 1
    if out.exists() and not out.is_dir():
        print(f'error: {out} is not a folder', file=sys.stderr)
        return 1
    if args.force:
        _clean(out)
    start = time.perf_counter()
    per_split = (args.train_per_class, args.val_per_class)
    for split in SPLITS:
        for name in FRUIT30_CLASSES:
            (out / split / name).mkdir(parents=True, exist_ok=True)
    _write_meta(out, params, False, {})
    jobs = [Job(str(out), split_id, cls, index, args.seed, args.min_size,
                args.max_size, args.png_ratio)
            for split_id in range(len(SPLITS))
            for cls in range(len(FRUIT30_CLASSES))
            for index in range(per_split[split_id])]
    workers = max(1, min(args.workers, len(jobs)))
    results = _run_jobs(jobs, workers)
    counts = {split: per_split[i] * len(FRUIT30_CLASSES)
              for i, split in enumerate(SPLITS)}
    _write_meta(out, params, True, counts)
    n_png = sum(1 for rel, _ in results if rel.endswith('.png'))
    n_bytes = sum(size for _, size in results)
    print(f'Wrote {len(results)} images ({counts["train"]} train, '
          f'{counts["val"]} val; {len(FRUIT30_CLASSES)} classes; {n_png} png, '
          f'{len(results) - n_png} jpg; {n_bytes / 1e6:.1f} MB) to '
          f'{out.resolve()} in {time.perf_counter() - start:.1f} s with '
          f'{workers} worker(s).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
