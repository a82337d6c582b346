"""The renderer: one whole picture of a class (background, groups, camera)."""
import math
from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from ..categories import FRUIT30_ALIASES
from .backgrounds import BACKGROUNDS
from .fruit import make_palette
from .layouts import LAYOUTS
from .recipes import RECIPES

#: Pictures are drawn this many times larger, then scaled down.
SUPERSAMPLE = 3


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
        pal = make_palette(recipe, rng)
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
