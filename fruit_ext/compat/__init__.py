"""Narrow fixes that make mmengine 0.10.7 / mmcv 2.2 / mmpretrain 1.2 run on
torch >= 2.6, numpy 2 and CPU-only hosts. One module per upstream bug; each
exposes ``apply()`` and ``revert()``."""
from . import (adjust_hue, analyze_results_save, atomic_checkpoint,
               browse_dataset_bbox, checkpoint, cpu_amp, dataloader,
               distributed, early_stopping,
               grad_cam_use_cuda, torchserve_config_file, tsne_n_iter,
               visualizer_scope)
from .checkpoint import (CorruptCheckpointError, UntrustedCheckpointError,
                         trust_checkpoint)

FIXES = (checkpoint, distributed, adjust_hue, atomic_checkpoint, cpu_amp,
         dataloader, visualizer_scope, browse_dataset_bbox, grad_cam_use_cuda,
         tsne_n_iter, torchserve_config_file, early_stopping,
         analyze_results_save)


def apply_all() -> None:
    """Apply every fix; called when ``fruit_ext`` is imported."""
    for fix in FIXES:
        fix.apply()


__all__ = [
    'apply_all', 'trust_checkpoint', 'UntrustedCheckpointError',
    'CorruptCheckpointError', 'FIXES'
]
