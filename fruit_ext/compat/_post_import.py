"""Run a fix when an optional module is imported, without importing it.

Optional analysis packages (``pytorch_grad_cam``, ``sklearn.manifold``) take
seconds to import, so ``import fruit_ext`` must not import them just to patch
them. :func:`when_imported` patches a module at once when it is already
imported, and otherwise right after its first import.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Callable, Dict, List, Optional, Sequence

_PENDING: Dict[str, List[Callable[[ModuleType], None]]] = {}


class _AfterImportFinder(importlib.abc.MetaPathFinder):
    """A meta path finder that only wraps the loaders of watched modules."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target: Optional[ModuleType] = None
                  ) -> Optional[importlib.machinery.ModuleSpec]:
        """Find a watched module's spec and wrap its loader's exec_module.

        Args:
            fullname: Module name being imported.
            path: Parent package path (unused).
            target: Module being reloaded (unused).

        Returns:
            The wrapped spec, or None for modules that are not watched.
        """
        if fullname not in _PENDING:
            return None
        sys.meta_path.remove(self)  # find the real spec without us
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_fix(module: ModuleType) -> None:
            exec_module(module)
            for callback in _PENDING.pop(fullname, []):
                callback(module)

        spec.loader.exec_module = exec_then_fix
        return spec


_FINDER = _AfterImportFinder()


def when_imported(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Call ``callback(module)`` now if ``name`` is imported, else after import.

    Args:
        name: Full module name, e.g. ``'sklearn.manifold'``.
        callback: The fix; receives the imported module.
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _PENDING.setdefault(name, []).append(callback)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
