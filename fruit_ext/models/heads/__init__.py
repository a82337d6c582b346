"""Classification heads."""
from .cosine_head import CosineClsHead

__all__ = ['CosineClsHead']
