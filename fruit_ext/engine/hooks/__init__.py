"""Training hooks."""
from .lr_scaling_log_hook import LRScalingLogHook

__all__ = ['LRScalingLogHook']
