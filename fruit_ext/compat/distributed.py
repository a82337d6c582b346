"""Distributed training on hosts without CUDA.

Upstream bug (mmengine 0.10.7): ``_init_dist_pytorch``/``_init_dist_slurm``
call ``torch.cuda.set_device`` unconditionally (``RuntimeError: Found no
NVIDIA driver``), mmpretrain's runtime asks for the ``nccl`` backend, and the
Runner's default DDP wrapper passes ``device_ids=[local_rank]`` (``ValueError:
DistributedDataParallel device_ids ... only work with ... GPU modules``).

The fix applies only when CUDA is absent: ``nccl`` becomes ``gloo``,
``set_device`` is skipped, and DDP gets ``device_ids=None``. With CUDA present
nothing changes (the fix is not installed).

Also, a process group set up through this ``init_dist`` is destroyed at
interpreter exit: neither mmengine nor mmpretrain's ``train.py`` calls
``destroy_process_group``, and a gloo rank that exits while its peer is still
at work (rank 0 saving the last checkpoint) can then abort in interpreter
teardown ("terminate called without an active exception", SIGABRT, torchrun
exit 1; pytorch/pytorch#179291 describes it). It happened once in our CI, in
a 2-process LP-FT run; a bare gloo script did it in 11 of 32 runs here.
"""
import atexit
import contextlib
import functools
import gc
from typing import Any, Callable, Iterator

import mmengine.dist
import mmengine.dist.utils as dist_utils
import mmengine.runner.runner as runner_module
import torch
from mmengine.model import MMDistributedDataParallel

from ._log import log_once

_original_init_dist = dist_utils.init_dist
_original_ddp_init = MMDistributedDataParallel.__init__


@contextlib.contextmanager
def _no_cuda_set_device() -> Iterator[None]:
    original = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = original


def destroy_process_group_at_exit() -> None:
    """Destroy the default process group if one is still up (atexit).

    A DDP model keeps the group alive after ``destroy_process_group``; the
    collection frees it (and joins gloo's threads) while Python still runs.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
        gc.collect()


@functools.wraps(_original_init_dist)
def init_dist(launcher: str, backend: str = 'nccl', **kwargs: Any) -> None:
    """``mmengine.dist.init_dist`` that falls back to gloo without CUDA.

    Args:
        launcher: 'pytorch', 'slurm' or 'mpi'.
        backend: Requested backend; ``nccl`` becomes ``gloo`` without CUDA.
        **kwargs: Passed on to mmengine.
    """
    # unregister first: registered once however often init_dist runs
    atexit.unregister(destroy_process_group_at_exit)
    atexit.register(destroy_process_group_at_exit)
    if torch.cuda.is_available():
        return _original_init_dist(launcher, backend=backend, **kwargs)
    if backend == 'nccl':
        backend = 'gloo'
    log_once('cpu-dist', 'CUDA is not available: distributed training uses '
             f'the {backend!r} backend without torch.cuda.set_device')
    with _no_cuda_set_device():
        return _original_init_dist(launcher, backend=backend, **kwargs)


def _ddp_init(self: MMDistributedDataParallel, module: torch.nn.Module,
              *args: Any, **kwargs: Any) -> None:
    on_cpu = all(not p.is_cuda for p in module.parameters())
    if on_cpu and not torch.cuda.is_available() and kwargs.get('device_ids'):
        kwargs['device_ids'] = None
        kwargs.pop('output_device', None)
        log_once('cpu-ddp', 'CUDA is not available: DDP wraps the CPU model '
                 'with device_ids=None')
    _original_ddp_init(self, module, *args, **kwargs)


def needs_fix() -> bool:
    """Whether the host lacks CUDA (the only case the fix acts on)."""
    return not torch.cuda.is_available()


def _rebind(function: Callable) -> None:
    dist_utils.init_dist = function
    mmengine.dist.init_dist = function
    runner_module.init_dist = function


def apply() -> None:
    """Install the CPU-only distributed fallbacks (idempotent)."""
    _rebind(init_dist)
    MMDistributedDataParallel.__init__ = _ddp_init


def revert() -> None:
    """Restore mmengine's original behaviour (used by tests)."""
    _rebind(_original_init_dist)
    MMDistributedDataParallel.__init__ = _original_ddp_init
