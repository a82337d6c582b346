"""A procedurally drawn stand-in for the fruit30 dataset.

Every picture is drawn with Pillow from a per-class recipe (shape, colour,
skin texture, stems and leaves, how many fruits and how they are arranged)
on a random background, with random size, scale, position, rotation,
lighting, blur and noise. The set is learnable but not trivial: some classes
are made to look alike on purpose (red / green apple, red / white grape,
tomato / cherry tomato, navel orange / tangerine).

Sections, one module each: ``profiles`` (PROFILES, body shapes),
``recipes`` (RECIPES), ``mixes`` (MIXES), ``textures`` (TEXTURES), ``decos``
(DECOS), ``fruit`` (one fruit), ``layouts`` (LAYOUTS), ``backgrounds``
(BACKGROUNDS), ``renderer`` (one picture) and ``writer`` (a set on disk).
The command-line tool is ``tools/dataset/make_demo_fruit30.py``.
"""
from .renderer import render_image
from .writer import DemoSpec, check_out, generate, make_one

__all__ = ['DemoSpec', 'check_out', 'generate', 'make_one', 'render_image']
