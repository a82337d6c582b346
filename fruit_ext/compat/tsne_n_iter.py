"""``TSNE(n_iter=...)`` on scikit-learn >= 1.7.

Upstream bug (mmpretrain 1.2 ``tools/visualization/vis_tsne.py``, run by
``mim run mmpretrain vis_tsne``): it builds ``sklearn.manifold.TSNE(...,
n_iter=args.n_iter)``. scikit-learn 1.5 renamed the argument to ``max_iter``
and 1.7 removed ``n_iter``, so the tool stops with ``TypeError:
TSNE.__init__() got an unexpected keyword argument 'n_iter'``.

The fix applies only where the installed ``TSNE`` no longer takes ``n_iter``
(probed from its signature): ``n_iter`` is passed on as ``max_iter``. The
patched ``__init__`` keeps the original signature (scikit-learn reads its
parameters from it). ``sklearn.manifold`` is patched when it is imported,
not imported by ``fruit_ext``.
"""
import functools
import inspect
from types import ModuleType
from typing import Any, Optional

from ._log import log_once
from ._post_import import when_imported

MODULE = 'sklearn.manifold'
_state: dict = {'module': None, 'original': None}


def lacks_max_iter_alias(tsne_class: type) -> bool:
    """Whether ``tsne_class`` rejects ``n_iter`` but takes ``max_iter``.

    Args:
        tsne_class: ``sklearn.manifold.TSNE``.

    Returns:
        True on scikit-learn >= 1.7.
    """
    parameters = inspect.signature(tsne_class.__init__).parameters
    return 'n_iter' not in parameters and 'max_iter' in parameters


def _patch(module: ModuleType) -> None:
    tsne_class = module.TSNE
    if _state['original'] is not None or \
            not lacks_max_iter_alias(tsne_class):
        return
    original = tsne_class.__init__

    @functools.wraps(original)
    def __init__(self, *args: Any, n_iter: Optional[int] = None,
                 **kwargs: Any) -> None:
        if n_iter is not None:
            if 'max_iter' in kwargs:
                raise TypeError('TSNE got both n_iter and max_iter; pass '
                                'max_iter only')
            kwargs['max_iter'] = n_iter
            log_once('tsne-n-iter', 'sklearn TSNE: n_iter is passed as '
                     'max_iter (scikit-learn >= 1.7 removed n_iter)')
        original(self, *args, **kwargs)

    tsne_class.__init__ = __init__
    _state.update(module=module, original=original)


def apply() -> None:
    """Accept ``n_iter`` in TSNE, now or when sklearn.manifold is imported."""
    when_imported(MODULE, _patch)


def revert() -> None:
    """Restore scikit-learn's ``TSNE.__init__`` (used by tests)."""
    if _state['original'] is not None:
        _state['module'].TSNE.__init__ = _state['original']
        _state.update(module=None, original=None)
