"""Narrow fixes that make mmengine 0.10.7 / mmcv 2.2 / mmpretrain 1.2 run on
torch >= 2.6, numpy 2 and CPU-only hosts. One module per upstream bug; each
exposes ``apply()`` and ``revert()``."""
import logging

from . import (adjust_hue, analyze_results_save, atomic_checkpoint,
               browse_dataset_bbox, checkpoint, cpu_amp, dataloader,
               distributed, early_stopping,
               grad_cam_use_cuda, torchserve_config_file, tsne_n_iter,
               visualizer_scope)
from ._log import log_once
from .checkpoint import (CorruptCheckpointError, UntrustedCheckpointError,
                         trust_checkpoint)

FIXES = (checkpoint, distributed, adjust_hue, atomic_checkpoint, cpu_amp,
         dataloader, visualizer_scope, browse_dataset_bbox, grad_cam_use_cuda,
         tsne_n_iter, torchserve_config_file, early_stopping,
         analyze_results_save)


def apply_all() -> None:
    """Apply every fix that the installed versions and host still need.

    Called when ``fruit_ext`` is imported. A fix with ``needs_fix()`` (a
    probe of the bug or of the host) is skipped, with one log line, when it
    returns False; the others are features or guards that always apply.
    """
    for fix in FIXES:
        needs_fix = getattr(fix, 'needs_fix', None)
        if needs_fix is not None and not needs_fix():
            name = fix.__name__.rsplit('.', 1)[-1]
            log_once(f'skip-{name}', f'{name}: not needed with the installed '
                     'versions on this host; not applied', logging.DEBUG)
            continue
        fix.apply()


__all__ = [
    'apply_all', 'trust_checkpoint', 'UntrustedCheckpointError',
    'CorruptCheckpointError', 'FIXES'
]
