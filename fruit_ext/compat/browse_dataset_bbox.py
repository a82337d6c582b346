"""``adjust_bbox(figure, bbox)`` in mmpretrain's browse_dataset on
matplotlib >= 3.6.

Upstream bug (mmpretrain 1.2 ``tools/visualization/browse_dataset.py``, run
by ``mim run mmpretrain browse_dataset -m pipeline`` or ``-m concat``): its
``make_grid`` calls ``matplotlib._tight_bbox.adjust_bbox(figure, bbox)``,
but matplotlib made ``renderer`` a required argument, so the tool stops with
``TypeError: adjust_bbox() missing 1 required positional argument:
'renderer'``.

The tool binds ``adjust_bbox`` at import, before ``fruit_ext`` is imported
through the config's ``custom_imports``. The fix therefore rebinds that one
name in the running script only, and only when the script is that tool and
its ``adjust_bbox`` is matplotlib's with a required ``renderer`` (probed):
the figure's own renderer is passed, as matplotlib's callers do.
"""
import functools
import inspect
import sys
from typing import Any, Callable, Optional

from ._log import log_once

TOOL = 'browse_dataset.py'
_state: dict = {'module': None, 'original': None}


def needs_renderer(function: Callable) -> bool:
    """Whether ``function`` is an ``adjust_bbox`` that needs a renderer.

    Args:
        function: The tool's ``adjust_bbox``.

    Returns:
        True when ``renderer`` is a parameter without a default.
    """
    try:
        parameter = inspect.signature(function).parameters.get('renderer')
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.default is parameter.empty


def _with_renderer(original: Callable) -> Callable:

    @functools.wraps(original)
    def adjust_bbox(fig: Any, bbox_inches: Any, renderer: Optional[Any] = None,
                    fixed_dpi: Optional[float] = None) -> Any:
        if renderer is None:
            renderer = fig.canvas.get_renderer()
            log_once('browse-dataset-bbox', 'browse_dataset: adjust_bbox is '
                     'given the figure\'s renderer (matplotlib >= 3.6 needs '
                     'it)')
        return original(fig, bbox_inches, renderer, fixed_dpi)

    return adjust_bbox


def apply() -> None:
    """Fix ``adjust_bbox`` in a running browse_dataset script (idempotent)."""
    script = sys.modules.get('__main__')
    path = getattr(script, '__file__', None) or ''
    original = getattr(script, 'adjust_bbox', None)
    if (not path.endswith(TOOL) or original is None
            or _state['original'] is not None
            or not needs_renderer(original)):
        return
    script.adjust_bbox = _with_renderer(original)
    _state.update(module=script, original=original)


def revert() -> None:
    """Restore the script's ``adjust_bbox`` (used by tests)."""
    if _state['original'] is not None:
        _state['module'].adjust_bbox = _state['original']
        _state.update(module=None, original=None)
