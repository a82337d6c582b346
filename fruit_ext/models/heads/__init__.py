"""Classification heads."""
__all__ = []
