"""Drawing predictions and reports with legible class names."""
from .fonts import display_labels, find_cjk_font

__all__ = ['display_labels', 'find_cjk_font']
