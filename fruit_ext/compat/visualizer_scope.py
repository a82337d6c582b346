"""``UniversalVisualizer(**cfg.visualizer)`` with a ``_scope_`` key.

Upstream bug (mmpretrain 1.2 ``tools/visualization/browse_dataset.py``, run
by ``mim run mmpretrain browse_dataset``): it pops ``type`` from
``cfg.visualizer`` and passes the rest as keyword arguments. mmengine 0.10.7
adds ``_scope_='mmpretrain'`` to every dict of a config inherited through
``mmpretrain::`` (as all of this project's configs are), so the tool stops
with ``TypeError: Visualizer.__init__() got an unexpected keyword argument
'_scope_'``.

``_scope_`` only says which registry builds the dict; a class given by hand
needs none. The fix drops ``_scope_`` when ``UniversalVisualizer``'s
signature does not take it (probed) and logs once.
"""
import functools
import inspect
from typing import Any, Callable

from mmpretrain.visualization import UniversalVisualizer

from ._log import log_once

_original_init: Callable = UniversalVisualizer.__init__


def needs_fix() -> bool:
    """Whether ``UniversalVisualizer.__init__`` rejects ``_scope_``.

    Returns:
        True when its signature has neither ``_scope_`` nor ``**kwargs``.
    """
    parameters = inspect.signature(_original_init).parameters.values()
    return not any(p.name == '_scope_' or p.kind is p.VAR_KEYWORD
                   for p in parameters)


@functools.wraps(_original_init)
def _init(self, *args: Any, **kwargs: Any) -> None:
    if '_scope_' in kwargs:
        scope = kwargs.pop('_scope_')
        log_once('visualizer-scope', f"UniversalVisualizer: config key "
                 f"_scope_={scope!r} dropped (a registry key, not an "
                 "argument)")
    _original_init(self, *args, **kwargs)


def apply() -> None:
    """Let ``UniversalVisualizer`` take a ``_scope_`` key (idempotent)."""
    if needs_fix():
        UniversalVisualizer.__init__ = _init


def revert() -> None:
    """Restore mmpretrain's ``UniversalVisualizer.__init__`` (tests)."""
    UniversalVisualizer.__init__ = _original_init
