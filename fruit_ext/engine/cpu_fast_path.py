"""bf16 autocast + channels-last where the CPU has bf16; heap malloc on CPU.

On CPUs with native bfloat16 (AMX or AVX512-BF16) both options together cut
the CPU time of a training iteration by about 40 % at no accuracy cost
(docs/benchmarks.md, "CPU: fast path by default"), so ``FruitRunner`` turns
them on for CPU-only runs unless the config says otherwise. The config key
``cpu_fast_path`` decides:

* ``None`` (absent, the default): on when there is no accelerator, the CPU
  reports ``amx_bf16`` or ``avx512_bf16`` in ``/proc/cpuinfo``, the
  training crop is at least :data:`MIN_SIDE` px (smaller iterations lose
  more to bfloat16's conversions than they gain; logged), and the config
  trains with a plain ``OptimWrapper``;
* ``False`` (``--cfg-options cpu_fast_path=False``): never;
* ``True``: on even without the CPU flags (bfloat16 is then emulated and
  slow; for tests and experiments).

What "on" means: ``optim_wrapper.type`` becomes ``AmpOptimWrapper`` with
``dtype='bfloat16'`` (``fruit_ext/compat/cpu_amp.py`` lets it run on CPU)
and every ``ChannelsLastHook`` left at ``enable=None`` is enabled (one is
added when the config has none). A ``ChannelsLastHook(enable=False)`` in the
config keeps channels-last off; an ``AmpOptimWrapper`` already there (or
``--amp``) is left as it is. Validation and test run in float32 as before.

Whatever the CPU, a run that trains on CPU also keeps freed memory in glibc's
heap (:mod:`fruit_ext.engine.heap_malloc`, off with ``cpu_heap_malloc =
False``); ``cpu_fast_path = False`` leaves the allocator alone too.
"""
from typing import List, Mapping, Optional

import torch

from .heap_malloc import apply_heap_malloc

#: /proc/cpuinfo flags of native bfloat16 arithmetic
BF16_FLAGS = ('amx_bf16', 'avx512_bf16')
#: Smallest training crop side for which the automatic choice turns bf16 +
#: channels-last on (measured with MobileNetV2, docs/benchmarks.md)
MIN_SIDE = 96
OFF_HINT = ('turn it off with `--cfg-options cpu_fast_path=False` (or '
            '`cpu_fast_path = False` in the config)')


def native_bf16_flags(cpuinfo: str = '/proc/cpuinfo') -> List[str]:
    """The native-bfloat16 flags this CPU reports.

    Args:
        cpuinfo: The ``/proc/cpuinfo`` file to read.

    Returns:
        The flags of :data:`BF16_FLAGS` present (empty when none, or when
        the file cannot be read, as on non-Linux hosts).
    """
    try:
        with open(cpuinfo, encoding='utf-8', errors='replace') as file:
            for line in file:
                if line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    return [flag for flag in BF16_FLAGS if flag in flags]
    except OSError:
        pass
    return []


def _has_accelerator() -> bool:
    from mmengine.device import (is_cuda_available, is_mlu_available,
                                 is_musa_available, is_npu_available)
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def _plain_optim_wrapper(cfg) -> bool:
    wrapper = cfg.get('optim_wrapper')
    return wrapper is not None and 'optimizer' in wrapper and \
        wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'


def apply_cpu_fast_path(cfg, cpuinfo: str = '/proc/cpuinfo',
                        environ: Optional[Mapping[str, str]] = None
                        ) -> Optional[str]:
    """Turn the fast path on in ``cfg`` (in place) where it applies.

    Args:
        cfg: The runner config (before the Runner is built).
        cpuinfo: The ``/proc/cpuinfo`` file to read.
        environ: The process environment (default: ``os.environ``), for
            :func:`apply_heap_malloc`.

    Returns:
        The lines to log once, or None when nothing changed.
    """
    wanted = cfg.get('cpu_fast_path', None)
    if wanted is False or 'train_dataloader' not in cfg or \
            cfg.get('train_dataloader') is None or _has_accelerator():
        return None
    lines = [_apply_bf16(cfg, wanted, cpuinfo),
             apply_heap_malloc(cfg, environ)]
    return '\n'.join(line for line in lines if line) or None


def train_crop_side(cfg) -> Optional[int]:
    """Longest side of the training crop, from the train pipeline.

    Args:
        cfg: The runner config.

    Returns:
        The ``scale`` of the pipeline's ``*RandomResizedCrop`` (or the
        ``crop_size`` of a ``*RandomCrop``); None when there is neither.
    """
    dataset = cfg.get('train_dataloader', {}).get('dataset') or {}
    while 'pipeline' not in dataset and isinstance(
            dataset.get('dataset'), Mapping):  # dataset wrappers
        dataset = dataset['dataset']
    for transform in dataset.get('pipeline') or []:
        name = str(transform.get('type', ''))
        size = transform.get('scale') if name.endswith(
            'RandomResizedCrop') else transform.get('crop_size') \
            if name.endswith('RandomCrop') else None
        if size is not None:
            return max(size) if isinstance(size, (list, tuple)) else size
    return None


def _apply_bf16(cfg, wanted: Optional[bool], cpuinfo: str) -> Optional[str]:
    flags = native_bf16_flags(cpuinfo)
    if wanted is None and not flags:
        return None
    side = train_crop_side(cfg)
    if wanted is None and side is not None and side < MIN_SIDE:
        return (f'CPU fast path: bfloat16 + channels-last left off for '
                f'{side} px training (they pay from {MIN_SIDE} px on: '
                'docs/benchmarks.md); force them with `--cfg-options '
                'cpu_fast_path=True`.')
    changed = []
    if _plain_optim_wrapper(cfg):
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
        changed.append('bfloat16 autocast')
    hooks = cfg.get('custom_hooks') or []
    channels_last = [h for h in hooks if h.get('type') == 'ChannelsLastHook']
    for hook in channels_last:
        if hook.get('enable', None) is None:
            hook['enable'] = True
    if not channels_last:
        cfg.custom_hooks = list(hooks) + [
            dict(type='ChannelsLastHook', enable=True)]
    if any(hook.get('enable') for hook in cfg.custom_hooks
           if hook.get('type') == 'ChannelsLastHook'):
        changed.append('channels-last')
    if not changed:
        return None
    why = f"the CPU has {' and '.join(flags)}" if flags else \
        'cpu_fast_path=True'
    return (f'CPU fast path: training uses {" + ".join(changed)} ({why}; '
            f'torch {torch.__version__}); {OFF_HINT}.')
