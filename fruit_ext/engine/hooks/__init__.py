"""Training hooks."""
from .backbone_freeze_hook import BackboneFreezeHook
from .broken_image_log_hook import BrokenImageLogHook
from .calibration_hook import CalibrationHook
from .channels_last_hook import ChannelsLastHook
from .checkpoint_links_hook import CheckpointLinksHook
from .class_counts_hook import ClassCountsHook
from .eval_report_hook import EvalReportHook
from .linear_probe_hook import LinearProbeHook
from .lr_scaling_log_hook import LRScalingLogHook

__all__ = [
    'LRScalingLogHook', 'BackboneFreezeHook', 'ClassCountsHook',
    'EvalReportHook', 'BrokenImageLogHook', 'ChannelsLastHook',
    'LinearProbeHook', 'CheckpointLinksHook', 'CalibrationHook'
]
