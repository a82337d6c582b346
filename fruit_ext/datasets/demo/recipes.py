"""RECIPES: how each fruit30 class is drawn (shape, colours, details)."""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..categories import FRUIT30_ALIASES
from .primitives import RGB


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
