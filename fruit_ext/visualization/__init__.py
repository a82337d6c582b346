"""Drawing predictions and reports with legible class names.

Importing it registers a CJK font with matplotlib (see
:func:`register_cjk_font`).
"""
from .fonts import display_labels, find_cjk_font, register_cjk_font

register_cjk_font()

__all__ = ['display_labels', 'find_cjk_font', 'register_cjk_font']
