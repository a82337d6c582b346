"""Narrow fixes that make mmengine 0.10.7 / mmcv 2.2 / mmpretrain 1.2 run on
torch >= 2.6, numpy 2 and CPU-only hosts. One module per upstream bug; each
exposes ``apply()`` and ``revert()``."""
from . import (adjust_hue, atomic_checkpoint, checkpoint, cpu_amp, dataloader,
               distributed)
from .checkpoint import (CorruptCheckpointError, UntrustedCheckpointError,
                         trust_checkpoint)

FIXES = (checkpoint, distributed, adjust_hue, atomic_checkpoint, cpu_amp,
         dataloader)


def apply_all() -> None:
    """Apply every fix; called when ``fruit_ext`` is imported."""
    for fix in FIXES:
        fix.apply()


__all__ = [
    'apply_all', 'trust_checkpoint', 'UntrustedCheckpointError',
    'CorruptCheckpointError', 'FIXES'
]
