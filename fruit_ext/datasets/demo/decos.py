"""DECOS: stems, leaves and crowns, drawn over the shaded body."""
import math
from functools import partial
from typing import Dict, Tuple

import numpy as np

from .primitives import ellipse_poly, leaf_poly, scale, tint
from .profiles import Body
from .recipes import Palette
from .textures import Draw, Rng, TextureFn


def _deco_stem(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """A short woody stem from the top."""
    x0, y0 = body.xy(0.03, 0)
    length = body.r0 * rng.uniform(0.25, 0.42)
    a = -math.pi / 2 + rng.uniform(-0.5, 0.5)
    x1, y1 = x0 + math.cos(a) * length, y0 + math.sin(a) * length
    xm = (x0 + x1) / 2 + rng.uniform(-0.12, 0.12) * length
    draw.line([(x0, y0), (xm, (y0 + y1) / 2), (x1, y1)], fill=pal.stem,
              width=max(2, int(round(body.r0 * 0.07))), joint='curve')


def _top_stalk(draw: Draw, body: Body, start: float, length: float,
               fill: Tuple[int, int, int], width: int) -> None:
    """A straight stalk along the body's axis, out through the top.

    Args:
        draw: Drawer of the sprite.
        body: The fruit body.
        start: Where the stalk starts inside the body (``t``).
        length: How far it sticks out beyond the top, in pixels.
        fill: Stalk colour.
        width: Line width in pixels.
    """
    x0, y0 = body.xy(0.0, 0)
    x1, y1 = body.xy(start, 0)
    dx, dy = x0 - x1, y0 - y1
    norm = math.hypot(dx, dy) or 1.0
    x2, y2 = x0 + dx / norm * length, y0 + dy / norm * length
    draw.line([(x1, y1), (x2, y2)], fill=fill, width=width)


def _deco_stem_stub(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """A short stump at the top."""
    _top_stalk(draw, body, 0.08, body.r0 * rng.uniform(0.08, 0.16),
               scale(pal.stem, 0.9), max(2, int(round(body.r0 * 0.1))))


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
    draw.polygon(leaf_poly(x0, y0, a, length, length * 0.24), fill=pal.leaf)
    draw.line([(x0, y0), (x0 + math.cos(a) * length * 0.9,
                          y0 + math.sin(a) * length * 0.9)],
              fill=scale(pal.leaf, 0.7),
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
                     fill=scale(pal.leaf, rng.uniform(0.85, 1.1)))
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
        pts = ellipse_poly(ex, ey, body.r0 * 0.2, body.r0 * 0.11 * 0.6,
                            math.atan2(math.sin(a) * 0.45, math.cos(a)))
        draw.polygon(pts, fill=scale(pal.leaf, rng.uniform(0.85, 1.1)),
                     outline=scale(pal.leaf, 0.6))
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
                     fill=scale(pal.leaf, rng.uniform(0.75, 1.2)),
                     outline=scale(pal.leaf, 0.6))


def _deco_crown_pom(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Small toothed crown (pomegranate)."""
    cx, cy = body.xy(0.03, 0)
    half, height = body.r0 * rng.uniform(0.12, 0.17), body.r0 * 0.2
    color = scale(pal.base, 0.75)
    draw.polygon([(cx - half, cy), (cx - half * 0.8, cy - height),
                  (cx + half * 0.8, cy - height), (cx + half, cy)],
                 fill=color)
    teeth = int(rng.integers(5, 7))
    for k in range(teeth):
        x = cx - half * 0.9 + 1.8 * half * k / (teeth - 1)
        draw.polygon([(x - half * 0.25, cy - height),
                      (x + (x - cx) * 0.3, cy - height * 1.75),
                      (x + half * 0.25, cy - height)],
                     fill=scale(color, rng.uniform(0.8, 1.0)))


def _deco_carrot_top(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Feathery stalks or a cut stump (carrot)."""
    cx, cy = body.xy(0.01, 0)
    if rng.random() < 0.35:
        r = body.hw * 0.45
        draw.ellipse([cx - r, cy - r * 0.4, cx + r, cy + r * 0.4],
                     fill=scale(pal.leaf, 0.8))
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
                draw.polygon(leaf_poly(px, py, la, ln * 0.16, ln * 0.04, 6),
                             fill=scale(pal.leaf, 1.1))


def _deco_flames(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Leafy bracts, pink at the base and green at the tip (dragon fruit)."""
    pink = tint(pal.base, 0.15)
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
    _top_stalk(draw, body, 0.07, body.hl * rng.uniform(0.12, 0.2),
               scale(pal.second, 0.8), max(2, int(round(body.hw * 0.32))))
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
