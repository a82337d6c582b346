"""TEXTURES: skin textures, drawn on a transparent overlay."""
import math
from typing import Callable, Dict, Iterable, Sequence, Tuple

import numpy as np
from PIL import ImageDraw

from .primitives import RGB, ellipse_poly, rgba, scale, tint
from .profiles import Body, sample_ts
from .recipes import Palette

Draw = ImageDraw.ImageDraw
Rng = np.random.Generator
TextureFn = Callable[[Draw, Body, Palette, Rng], None]


def _dots(draw: ImageDraw.ImageDraw, body: Body, colors: Sequence[RGB],
          rng: np.random.Generator, n: int, radius: Tuple[float, float],
          alpha: Tuple[int, int]) -> None:
    """Scatter round dots over the skin."""
    t, s = sample_ts(rng, n)
    xs, ys = body.point(t, s)
    rad = body.r0 * rng.uniform(radius[0], radius[1], n)
    alphas = rng.integers(alpha[0], alpha[1], n)
    picks = rng.integers(0, len(colors), n)
    for x, y, r, a, k in zip(xs.tolist(), ys.tolist(), rad.tolist(),
                             alphas.tolist(), picks.tolist()):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rgba(colors[k], a))


def _tex_pores(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Dense tiny pits (citrus)."""
    _dots(draw, body, [pal.tex], rng, 420, (0.01, 0.024), (60, 150))


def _tex_speckle(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Sparse small dots (pear, longan, mango)."""
    _dots(draw, body, [pal.tex], rng, 90, (0.012, 0.03), (90, 200))


def _tex_lenticels(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Small pale dots (apples)."""
    _dots(draw, body, [tint(pal.base, 0.5)], rng, 60, (0.01, 0.022),
          (80, 170))


def _tex_granules(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Densely packed dark and light grains (waxberry)."""
    _dots(draw, body, [pal.tex, tint(pal.base, 0.25), pal.base], rng, 520,
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
    color = rgba(pal.tex, 225)
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
        draw.polygon(pts, fill=rgba(pal.tex, 235))


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
    shadow = rgba(scale(pal.base, 0.55), 200)
    for t, phi, _, _ in _grid(int(rng.integers(8, 11)), 9, rng,
                              (0.12, 0.97)):
        x, y = body.xy(t, math.sin(phi))
        r = body.r0 * 0.045 * math.cos(phi) ** 0.5 * float(body.width(t)) ** .5
        draw.ellipse([x - r * 0.9, y - r * 0.5, x + r * 0.9, y + r * 1.6],
                     fill=shadow)
        draw.ellipse([x - r * 0.55, y - r, x + r * 0.55, y + r],
                     fill=rgba(pal.tex, 240))


def _tex_bumps(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Polygonal bumps with dark rims (lychee)."""
    light = rgba(tint(pal.base, 0.3), 200)
    rim = rgba(pal.tex, 210)
    width = max(1, int(round(body.r0 * 0.025)))
    for t, phi, _, _ in _grid(int(rng.integers(9, 12)), 10, rng):
        x, y = body.xy(t, math.sin(phi))
        r = body.r0 * 0.085 * math.cos(phi) ** 0.6
        pts = ellipse_poly(x, y, r, r, rng.uniform(0, 1), n=6)
        draw.polygon(pts, outline=rim, width=width)
        draw.ellipse([x - r * 0.2, y - r * 0.2, x + r * 0.2, y + r * 0.2],
                     fill=light)


def _tex_warts(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Rows of elongated pale bumps along the length (bitter melon)."""
    light = tint(pal.tex, 0.1)
    for phi in np.linspace(-1.35, 1.35, 9) + rng.uniform(-0.1, 0.1):
        t = 0.04
        while t < 0.96:
            s = math.sin(phi)
            x, y = body.xy(t, s)
            width = body.hw * float(body.width(t))
            rx = max(1.0, width * 0.11 * math.cos(phi))
            ry = body.hl * rng.uniform(0.025, 0.05)
            draw.ellipse([x - rx, y - ry, x + rx, y + ry],
                         fill=rgba(light, int(rng.integers(120, 230))))
            t += rng.uniform(0.05, 0.09)


def _tex_cuke(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Faint pale lengthwise stripes and small spines (cucumber)."""
    tt = np.linspace(0.02, 0.98, 30)
    width = max(1, int(round(body.hw * 0.1)))
    for _ in range(int(rng.integers(4, 7))):
        s = math.sin(rng.uniform(-1.2, 1.2))
        xs, ys = body.point(tt, s)
        draw.line(list(zip(xs.tolist(), ys.tolist())),
                  fill=rgba(pal.tex, 60), width=width)
    _dots(draw, body, [tint(pal.tex, 0.5), scale(pal.base, 0.6)], rng, 70,
          (0.03, 0.06), (120, 220))


def _strokes(draw: ImageDraw.ImageDraw, body: Body, colors: Sequence[RGB],
             rng: np.random.Generator, n: int, length: Tuple[float, float],
             spread: float, alpha: Tuple[int, int], width: float) -> None:
    """Short straight strokes, mostly along the long axis."""
    t, s = sample_ts(rng, n)
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
                  fill=rgba(colors[k], al), width=w)


def _tex_fibers(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Coarse fibres (husked coconut)."""
    _strokes(draw, body, [pal.tex, tint(pal.base, 0.3)], rng, 380,
             (0.08, 0.2), 0.6, (140, 230), 0.02)


def _tex_hairs(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Short fine hairs in all directions (kiwi)."""
    _strokes(draw, body, [pal.tex, tint(pal.base, 0.2)], rng, 600,
             (0.02, 0.06), math.pi, (90, 180), 0.012)


def _tex_ridges(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """A few lengthwise ridges (banana)."""
    tt = np.linspace(0.03, 0.97, 30)
    width = max(1, int(round(body.hw * 0.06)))
    for s in (-0.45, 0.05, 0.55):
        xs, ys = body.point(tt, s + rng.uniform(-0.08, 0.08))
        draw.line(list(zip(xs.tolist(), ys.tolist())),
                  fill=rgba(scale(pal.base, 0.8), 110), width=width)


def _tex_grid(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Diamond eyes with dark centres (pineapple)."""
    rim = rgba(pal.tex, 230)
    width = max(1, int(round(body.r0 * 0.03)))
    rows = int(rng.integers(9, 12))
    for t, phi, dt, dphi in _grid(rows, 8, rng):
        top = body.xy(t - dt / 2, math.sin(phi))
        bottom = body.xy(t + dt / 2, math.sin(phi))
        left = body.xy(t, math.sin(max(-1.57, phi - dphi / 2)))
        right = body.xy(t, math.sin(min(1.57, phi + dphi / 2)))
        shade = rng.uniform(0.85, 1.15)
        draw.polygon([top, right, bottom, left],
                     fill=rgba(scale(pal.base, shade), 255), outline=rim,
                     width=width)
        x, y = body.xy(t, math.sin(phi))
        r = body.r0 * 0.05 * math.cos(phi) ** 0.5
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rim)


def _tex_scales(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Pyramid thorn bases (durian)."""
    light = rgba(tint(pal.base, 0.2), 255)
    rim = rgba(pal.tex, 230)
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
                  fill=rgba(pal.tex, int(rng.integers(90, 200))), width=width)


def _tex_streaks(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Fine lengthwise streaks (apples)."""
    tt = np.linspace(0.06, 0.95, 16)
    for _ in range(18):
        phi = rng.uniform(-1.4, 1.4) + 0.08 * np.sin(tt * 9 + rng.uniform(0,
                                                                          6))
        xs, ys = body.point(tt, np.sin(phi))
        width = max(1, int(round(body.r0 * rng.uniform(0.01, 0.022))))
        draw.line(list(zip(xs.tolist(), ys.tolist())),
                  fill=rgba(pal.tex, int(rng.integers(35, 80))), width=width)


def _tex_dimple(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Dark hollow where the stem enters."""
    x, y = body.xy(0.05, 0)
    rx, ry = body.hw * rng.uniform(0.18, 0.28), body.hl * 0.07
    draw.ellipse([x - rx, y - ry, x + rx, y + ry],
                 fill=rgba(scale(pal.base, 0.55), 170))


def _tex_navel(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Navel at the blossom end (navel orange)."""
    x, y = body.xy(rng.uniform(0.8, 0.9), rng.uniform(-0.2, 0.2))
    r = body.r0 * rng.uniform(0.07, 0.11)
    draw.ellipse([x - r, y - r * 0.8, x + r, y + r * 0.8],
                 fill=rgba(scale(pal.base, 0.72), 220))
    for k in range(6):
        a = k * math.pi / 3
        draw.line([(x, y), (x + math.cos(a) * 1.6 * r,
                            y + math.sin(a) * 1.3 * r)],
                  fill=rgba(pal.tex, 140), width=max(1, int(r * 0.2)))


def _tex_eyes(draw: Draw, body: Body, pal: Palette, rng: Rng) -> None:
    """Three dark germination pores (coconut)."""
    for t, s in ((0.12, -0.18), (0.12, 0.18), (0.2, 0.0)):
        x, y = body.xy(t + rng.uniform(-0.02, 0.02), s)
        r = body.r0 * 0.06
        draw.ellipse([x - r, y - r, x + r, y + r],
                     fill=rgba(scale(pal.tex, 0.6), 240))


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
