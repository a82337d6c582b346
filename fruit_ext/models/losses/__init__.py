"""Classification losses."""
from .class_balanced_loss import ClassBalancedLoss, effective_number_weights

__all__ = ['ClassBalancedLoss', 'effective_number_weights']
