"""LAYOUTS: one or more fruits arranged in a square group canvas."""
import math
from typing import Callable, Dict, List, Sequence

import numpy as np
from PIL import Image, ImageDraw

from .fruit import render_item, vary
from .primitives import Point, composite, rotate_point
from .recipes import Palette, Recipe


def _layout_single(recipe: Recipe, pal: Palette, size: int,
                   rng: np.random.Generator, light: Point) -> Image.Image:
    """A single fruit."""
    return render_item(recipe, pal, size, rng, light)[0]


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
        sprite, (ax, ay) = render_item(recipe, vary(pal, rng, 0.06), side,
                                        rng, light)
        x0, y0 = cx - side / 2, cy - side / 2
        items.append((cy, sprite, x0, y0, (x0 + ax, y0 + ay)))
    if recipe.link != 'none' and n > 1 and rng.random() < 0.75:
        apex = (size / 2 + rng.uniform(-0.15, 0.15) * size, 0.03 * size)
        _draw_links(group, [it[4] for it in items], recipe, pal, rng, apex,
                    size * 0.012)
    for _, sprite, x0, y0, _ in sorted(items, key=lambda it: it[0]):
        composite(group, sprite, x0, y0)
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
        sprite, (ax, ay) = render_item(recipe, vary(pal, rng, 0.06), side,
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
        composite(group, sprite, x0, y0)
    return group


def _layout_bunch(recipe: Recipe, pal: Palette, size: int,
                  rng: np.random.Generator, light: Point) -> Image.Image:
    """A tapering bunch of berries on a stalk (grapes)."""
    rows, widest = int(rng.integers(5, 8)), int(rng.integers(4, 6))
    diameter = size * 0.82 / max(rows * 0.82, widest * 0.88)
    side = int(diameter / (2 * recipe.body_frac))
    variants = [render_item(recipe, vary(pal, rng, 0.08), side, rng,
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
        composite(group, sprite, x - side / 2, y - side / 2)
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
        sprite, anchor = render_item(recipe, vary(pal, rng, 0.05), side,
                                      rng, light)
        if mirror:
            sprite = sprite.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            anchor = (sprite.width - anchor[0], anchor[1])
        angle = (k - (n - 1) / 2) * spread + rng.uniform(-4, 4)
        rotated = sprite.convert('RGBa').rotate(
            angle, resample=Image.Resampling.BICUBIC,
            expand=True).convert('RGBA')
        ax, ay = rotate_point(anchor[0], anchor[1], sprite.size,
                               rotated.size, angle)
        composite(group, rotated, apex[0] - ax, apex[1] - ay)
    return group


#: Group layouts, keyed by ``Recipe.layout``.
LAYOUTS: Dict[str, Callable[..., Image.Image]] = {
    'single': _layout_single,
    'scatter': _layout_scatter,
    'stems': _layout_stems,
    'bunch': _layout_bunch,
    'fan': _layout_fan,
}
