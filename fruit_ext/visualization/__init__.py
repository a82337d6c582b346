"""Drawing predictions and reports with legible class names.

Importing it registers a CJK font with matplotlib (see
:func:`register_cjk_font`) as soon as matplotlib is imported, by anyone.
"""
from ..compat._post_import import when_imported
from .figures import agg_figure
from .fonts import display_labels, find_cjk_font, register_cjk_font

when_imported('matplotlib', lambda _: register_cjk_font())

__all__ = ['agg_figure', 'display_labels', 'find_cjk_font',
           'register_cjk_font']
