"""Rendering one fruit: palette, skin, texture, shading and decorations."""
import math
from typing import Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .decos import DECOS
from .mixes import MIXES
from .primitives import Point, jitter, scale
from .profiles import Body
from .recipes import Palette, Recipe
from .textures import TEXTURES


def make_palette(recipe: Recipe, rng: np.random.Generator) -> Palette:
    """Jitter the recipe's colours once for a group of fruits."""
    hj, sj, vj = recipe.jitter
    dh = rng.uniform(-hj, hj)
    ds, dv = 1 + rng.uniform(-sj, sj), 1 + rng.uniform(-vj, vj)
    base = recipe.color
    second = recipe.color2 or scale(base, 0.8)
    tex = recipe.tex_color or scale(base, 0.7)
    leaf = jitter(recipe.leaf_color, rng.uniform(-0.03, 0.03),
                   1 + rng.uniform(-0.15, 0.15), 1 + rng.uniform(-0.2, 0.2))
    stem = jitter(recipe.stem_color, 0, 1, 1 + rng.uniform(-0.2, 0.2))
    return Palette(*(jitter(c, dh, ds, dv) for c in (base, second, tex)),
                   leaf=leaf, stem=stem)


def vary(pal: Palette, rng: np.random.Generator, amount: float) -> Palette:
    """Slightly different colours for one member of a group."""
    dh = rng.uniform(-amount, amount) * 0.3
    dv = 1 + rng.uniform(-amount, amount)
    return Palette(jitter(pal.base, dh, 1, dv), jitter(pal.second, dh, 1,
                                                         dv),
                   jitter(pal.tex, dh, 1, dv), pal.leaf, pal.stem)


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
        cdraw.polygon(tri, fill=scale(pal.base, 0.85))


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


def render_item(recipe: Recipe, pal: Palette, side: int,
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
