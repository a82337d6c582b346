"""The two upstream warnings every OpenMMLab command prints, filtered once.

Both are harmless for classification and say nothing a user can act on:

* ``pkg_resources is deprecated as an API`` (setuptools 81): mmengine,
  mmcv and openmim import ``pkg_resources``; setuptools is pinned below 82,
  which still has it (``requirements/runtime.txt``).
* ``Fail to import ``MultiScaleDeformableAttention`` ...`` (mmcv-lite has no
  compiled ops): mmpretrain never uses ``mmcv.ops``.

Only warnings whose message starts with these texts are ignored; every other
warning shows as before. This module imports nothing but :mod:`warnings`, so
``fruit_ext/__init__.py`` applies it before importing mmcv, and
``tools/setup_env.sh`` writes :func:`pth_line` into a ``.pth`` file of the
virtual environment so that ``mim`` and the processes it starts (which import
mmengine before any config imports ``fruit_ext``) are quiet too.
"""
import builtins
import re
import warnings
from typing import Tuple

#: (start of the message, category name) of each filtered warning.
UPSTREAM_WARNINGS: Tuple[Tuple[str, str], ...] = (
    ('pkg_resources is deprecated as an API', 'UserWarning'),
    ('Fail to import ``MultiScaleDeformableAttention``', 'UserWarning'),
)


def quiet_upstream_warnings() -> None:
    """Ignore the warnings in :data:`UPSTREAM_WARNINGS` (idempotent)."""
    for message, category in UPSTREAM_WARNINGS:
        warnings.filterwarnings('ignore', message=_pattern(message),
                                category=getattr(builtins, category))


def _pattern(message: str) -> str:
    """A regular expression matching messages that start with ``message``."""
    return re.escape(message)


def pth_line() -> str:
    """One line for a ``.pth`` file that applies the same filters at start.

    Returns:
        Python source on one line, starting with ``import`` (``site`` runs
        such lines of ``.pth`` files when the interpreter starts).
    """
    calls = '; '.join(
        f'warnings.filterwarnings("ignore", message={_pattern(message)!r}, '
        f'category={category})' for message, category in UPSTREAM_WARNINGS)
    return f'import warnings; {calls}\n'
