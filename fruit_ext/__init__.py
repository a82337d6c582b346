"""fruit_ext: fine-tune image classifiers on a folder of photos with the
OpenMMLab stack (mmengine + mmpretrain), on today's PyTorch.

Importing the package applies the compatibility fixes in
:mod:`fruit_ext.compat` and registers datasets, hooks and helpers in
mmpretrain's and mmengine's registries (``custom_imports`` does this).
"""
from ._upstream_warnings import quiet_upstream_warnings

quiet_upstream_warnings()  # before mmcv / mmengine are imported

try:
    import mmcv  # noqa: F401
except ImportError as error:  # pragma: no cover - install problem
    raise ImportError(
        'fruit_ext needs mmcv 2.x: `pip install mmcv-lite==2.2.0` (pure '
        'Python) or a full mmcv>=2.0,<2.4 build.') from error

from . import compat

compat.apply_all()

from . import apis, datasets, engine, evaluation, models, visualization  # noqa: E402,E501
from .version import __version__  # noqa: E402

__all__ = ['apis', 'compat', 'datasets', 'engine', 'evaluation', 'models',
           'visualization',
           '__version__']
