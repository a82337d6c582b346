"""fruit_ext's decoder and ONNX predictor, with or without the package.

Inside ``fruit_ext`` (``fruit_ext.serving``) these are the package modules.
Loaded standalone (``serve.py --onnx`` imports this folder without
``fruit_ext/__init__.py``, which imports torch and OpenMMLab), they are the
same two files loaded by path, exactly as ``predictor.py`` runs when copied
next to a model.
"""
import functools
import importlib.util
import os.path as osp
import sys
from types import ModuleType

STANDALONE = not (__package__ or '').startswith('fruit_ext.')
_APIS_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'apis')


@functools.lru_cache(maxsize=None)
def predictor_module() -> ModuleType:
    """``fruit_ext/apis/predictor.py`` (needs onnxruntime)."""
    if not STANDALONE:
        from ..apis import predictor
        return predictor
    name = '_fruit_serving_predictor'
    spec = importlib.util.spec_from_file_location(
        name, osp.join(_APIS_DIR, 'predictor.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def image_core() -> ModuleType:
    """``fruit_ext/apis/image_core.py``: the one decoder (``load_rgb``)."""
    if not STANDALONE:
        from ..apis import image_core as module
        return module
    # the predictor's own copy, so its errors and ours are the same class
    return predictor_module().image_core
