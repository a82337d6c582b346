"""Keep freed memory in glibc's heap while training on CPU.

glibc's malloc serves every block over its mmap threshold (at most 32 MiB)
with a fresh ``mmap`` and gives it back with ``munmap`` at ``free``, so each
training iteration maps and zeroes the pages of its large activations and
gradients again. In ``tools/train.py`` runs of MobileNetV2 at 224 px, batch
32, keeping them in the heap gave 2.9x images/s in fp32 and 1.3x with bf16
autocast + channels-last, at a 13-25 % higher peak RSS (docs/benchmarks.md,
"CPU training: glibc malloc keeps freed memory").

:func:`enable_heap_malloc` sets, through ``mallopt``, what the environment
variables ``MALLOC_MMAP_MAX_=0``, ``MALLOC_TRIM_THRESHOLD_`` (never trim)
and ``MALLOC_TOP_PAD_=1 GiB`` set at start-up; glibc reads these parameters
at every ``malloc`` and ``free``, so they hold for every later allocation of
the process (tests/test_heap_malloc.py counts the page faults). The cost:
the process keeps its peak memory instead of shrinking between iterations
(and after training, until it ends), and freed blocks of other sizes raise
that peak a little.

:func:`apply_heap_malloc` decides, for a config that trains on CPU
(:func:`fruit_ext.engine.cpu_fast_path.apply_cpu_fast_path`): off with
``cpu_heap_malloc = False``; left alone where the process already chose
(``MALLOC_*`` variables or ``glibc.malloc`` tunables, another allocator in
``LD_PRELOAD``); a no-op with a log line where the C library is not glibc.
"""
import ctypes
import os
import sys
from typing import Mapping, Optional

# glibc's <malloc.h>: mallopt parameter numbers
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
#: (parameter, value, what the log calls it); M_TRIM_THRESHOLD=-1 (as
#: size_t: the largest value) is mallopt(3)'s "disables trimming completely"
SETTINGS = ((M_MMAP_MAX, 0, 'M_MMAP_MAX=0'),
            (M_TRIM_THRESHOLD, -1, 'M_TRIM_THRESHOLD=-1'),
            (M_TOP_PAD, 2**30, 'M_TOP_PAD=1GiB'))
#: environment settings by which a process has chosen its malloc already
MALLOC_ENV = ('MALLOC_MMAP_MAX_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_',
              'MALLOC_MMAP_THRESHOLD_')
OFF_HINT = ('turn it off with `--cfg-options cpu_heap_malloc=False` (or '
            '`cpu_heap_malloc = False` in the config)')


def glibc_version() -> Optional[str]:
    """The running glibc's version ("2.36"), or None off Linux glibc."""
    if not sys.platform.startswith('linux'):
        return None
    try:
        name = os.confstr('CS_GNU_LIBC_VERSION') or ''
    except (ValueError, OSError):
        return None
    return name.split()[1] if name.startswith('glibc ') else None


def process_choice(environ: Mapping[str, str]) -> Optional[str]:
    """How the process chose its allocator itself, if it did.

    Args:
        environ: The process environment.

    Returns:
        A short description (e.g. ``MALLOC_MMAP_MAX_=65536``), or None.
    """
    for key in MALLOC_ENV:
        if key in environ:
            return f'{key}={environ[key]}'
    if 'glibc.malloc.' in environ.get('GLIBC_TUNABLES', ''):
        return f"GLIBC_TUNABLES={environ['GLIBC_TUNABLES']}"
    preload = [p for p in environ.get('LD_PRELOAD', '').replace(':', ' ')
               .split() if 'malloc' in os.path.basename(p)]
    return f'LD_PRELOAD={preload[0]}' if preload else None


def enable_heap_malloc() -> None:
    """Set glibc malloc to keep freed memory (see the module docstring).

    Raises:
        OSError: Off glibc, or when ``mallopt`` refuses a setting.
    """
    if glibc_version() is None:
        raise OSError('heap malloc needs glibc (Linux); this C library is '
                      'not glibc')
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    for param, value, name in SETTINGS:
        if mallopt(param, value) != 1:  # 1 on success, 0 on error
            raise OSError(f'glibc mallopt refused {name}')


def apply_heap_malloc(cfg, environ: Optional[Mapping[str, str]] = None
                      ) -> Optional[str]:
    """Enable heap malloc for a CPU training run unless told otherwise.

    Args:
        cfg: The runner config of a run that trains on CPU.
        environ: The process environment (default: ``os.environ``).

    Returns:
        The line to log once, or None when ``cpu_heap_malloc=False``.
    """
    if cfg.get('cpu_heap_malloc', None) is False:
        return None
    environ = os.environ if environ is None else environ
    head = 'CPU fast path: glibc malloc'
    chosen = process_choice(environ)
    if chosen:
        return (f'{head} left as this process set it ({chosen}); without '
                'it training on CPU keeps freed memory in the heap.')
    version = glibc_version()
    if version is None:
        return (f'{head} not changed: the C library is not glibc, so large '
                'tensors may be mapped and unmapped every iteration.')
    enable_heap_malloc()
    return (f'{head} {version} keeps freed memory in the heap for the rest '
            f'of this process ({", ".join(s[2] for s in SETTINGS)}): no '
            'mmap, page faults and munmap per tensor over 32 MiB every '
            'iteration, but the process keeps its peak memory; '
            f'{OFF_HINT}.')
