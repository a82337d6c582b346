"""``GradCAM(use_cuda=...)`` on grad-cam >= 1.5.

Upstream bug (mmpretrain 1.2 ``tools/visualization/vis_cam.py``, run by
``mim run mmpretrain vis_cam``): it builds every CAM method with
``use_cuda='cuda' in args.device``. grad-cam 1.5 removed ``use_cuda`` (the
device now comes from the model's parameters), so the tool stops with
``TypeError: GradCAM.__init__() got an unexpected keyword argument
'use_cuda'``.

The fix applies only to CAM classes whose ``__init__`` no longer takes
``use_cuda`` (probed from the signature): ``use_cuda`` is dropped when it
agrees with the model's device and refused when it does not, since grad-cam
would silently compute on the model's device. ``pytorch_grad_cam`` is
patched when it is imported, not imported by ``fruit_ext``.
"""
import functools
import inspect
from types import ModuleType
from typing import Any, Callable, Dict, List

from ._log import log_once
from ._post_import import when_imported

MODULE = 'pytorch_grad_cam'
_originals: Dict[type, Callable] = {}


def cam_classes(base: type) -> List[type]:
    """``base`` and all its subclasses, depth first.

    Args:
        base: ``pytorch_grad_cam.base_cam.BaseCAM``.

    Returns:
        The classes.
    """
    found = [base]
    for subclass in base.__subclasses__():
        found.extend(cam_classes(subclass))
    return found


def _model_on_cuda(model: Any) -> bool:
    parameter = next(model.parameters(), None)
    return parameter is not None and parameter.device.type == 'cuda'


def _wrap(original: Callable) -> Callable:

    @functools.wraps(original)
    def __init__(self, *args: Any, use_cuda: Any = None,
                 **kwargs: Any) -> None:
        if use_cuda is not None:
            model = kwargs.get('model', args[0] if args else None)
            if model is not None and bool(use_cuda) != _model_on_cuda(model):
                raise ValueError(
                    f'{type(self).__name__}(use_cuda={use_cuda}) but the '
                    'model is on another device: grad-cam >= 1.5 computes '
                    'on the model\'s device; move the model instead')
            log_once('grad-cam-use-cuda', 'grad-cam: use_cuda is dropped '
                     '(grad-cam >= 1.5 uses the model\'s device)')
        original(self, *args, **kwargs)

    return __init__


def _patch(module: ModuleType) -> None:
    for cam_class in cam_classes(module.base_cam.BaseCAM):
        init = cam_class.__dict__.get('__init__')
        if (init is None or cam_class in _originals
                or 'use_cuda' in inspect.signature(init).parameters):
            continue
        _originals[cam_class] = init
        cam_class.__init__ = _wrap(init)


def apply() -> None:
    """Accept ``use_cuda`` in CAM classes, now or when grad-cam is imported."""
    when_imported(MODULE, _patch)


def revert() -> None:
    """Restore grad-cam's ``__init__`` methods (used by tests)."""
    for cam_class, init in _originals.items():
        cam_class.__init__ = init
    _originals.clear()
