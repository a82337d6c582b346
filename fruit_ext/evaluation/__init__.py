"""Evaluation reports written from predictions."""
from .report import macro_average, per_class_metrics, write_eval_report

__all__ = ['write_eval_report', 'per_class_metrics', 'macro_average']
