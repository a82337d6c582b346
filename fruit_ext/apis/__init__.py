"""Inference helpers."""
from .inference import init_model, show_result_pyplot

__all__ = ['init_model', 'show_result_pyplot']
