"""Mixed precision (bfloat16) training on CPU-only hosts.

Upstream limitation (mmengine 0.10.7): ``AmpOptimWrapper.__init__`` asserts
that CUDA, NPU, MLU or MUSA is present, so ``--amp`` and
``optim_wrapper=dict(type='AmpOptimWrapper')`` fail on a CPU host with
``AssertionError: AmpOptimizerWrapper is only available training on gpu``,
although mmengine's own ``autocast`` supports CPU bfloat16 and recent CPUs
(AVX512-BF16, AMX) train faster with it.

The fix applies only when no accelerator is present: the wrapper is built
with bfloat16 autocast (the only CPU autocast type mmengine accepts) and a
disabled loss scaler (bfloat16 has float32's exponent range and needs no
loss scaling). With an accelerator nothing changes.
"""
from typing import Any, Optional, Union

import torch
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from ._log import log_once

_original_init = AmpOptimWrapper.__init__


def _has_accelerator() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def needs_fix() -> bool:
    """Whether ``AmpOptimWrapper`` refuses this host (CPU only).

    Returns:
        True when there is no accelerator and mmengine's constructor raises
        ``AssertionError`` for a one-parameter SGD optimizer.
    """
    if _has_accelerator():
        return False
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    try:
        _original_init(object.__new__(AmpOptimWrapper), optimizer=optimizer)
    except AssertionError:
        return True
    return False


def _init(self: AmpOptimWrapper,
          loss_scale: Union[str, float, dict] = 'dynamic',
          dtype: Optional[Union[str, torch.dtype]] = None,
          use_fsdp: bool = False,
          **kwargs: Any) -> None:
    if _has_accelerator():
        _original_init(
            self, loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp,
            **kwargs)
        return
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if dtype not in (None, torch.bfloat16):
        raise ValueError(
            f'AmpOptimWrapper(dtype={dtype}) on a CPU-only host: CPU autocast '
            'supports bfloat16 only; set optim_wrapper.dtype="bfloat16" or '
            'drop --amp.')
    OptimWrapper.__init__(self, **kwargs)
    self._scale_update_param = None
    self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
    self.cast_dtype = torch.bfloat16
    log_once('cpu-amp', 'no accelerator: AmpOptimWrapper trains with '
             'bfloat16 autocast on CPU (no loss scaling)')


def apply() -> None:
    """Allow AmpOptimWrapper without an accelerator (idempotent)."""
    AmpOptimWrapper.__init__ = _init


def revert() -> None:
    """Restore mmengine's original behaviour (used by tests)."""
    AmpOptimWrapper.__init__ = _original_init
