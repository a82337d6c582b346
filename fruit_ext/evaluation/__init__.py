"""Evaluation reports written from predictions."""
from .report import confusion_matrix, per_class_metrics, write_eval_report

__all__ = ['write_eval_report', 'confusion_matrix', 'per_class_metrics']
