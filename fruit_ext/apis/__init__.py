"""Inference helpers; importing this registers the package's model index."""
import importlib

from . import inferencer_loading
from .batch_inference import BatchInferencer, Prediction, write_predictions
from .image_core import load_rgb
from .image_inputs import collect_images
from .inference import init_model, show_result_pyplot
from .model_index import register_model_index
from .prediction_drawing import draw_prediction
from .publish import publish_checkpoint

register_model_index()
inferencer_loading.apply()

# Deployment helpers need onnx/onnxruntime: imported on first use only, so
# training processes never load them.
_LAZY = {
    'Predictor': '.predictor',
    'export_onnx': '.onnx_export',
    'preprocess_spec': '.onnx_export',
    'max_logit_difference': '.onnx_export',
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'init_model', 'show_result_pyplot', 'register_model_index',
    'BatchInferencer', 'Prediction', 'write_predictions', 'draw_prediction',
    'collect_images', 'load_rgb', 'publish_checkpoint', 'Predictor',
    'export_onnx', 'preprocess_spec', 'max_logit_difference'
]
