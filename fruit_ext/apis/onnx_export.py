"""Export a classifier to ONNX and check it against PyTorch.

The graph takes the normalised image batch (N, 3, H, W) with dynamic batch
and spatial size (the network ends in global average pooling) and returns the
logits (N, C); graphs whose padding depends on the size (TF-style "same"
padding) take only the size the test pipeline yields, when it yields one
(:mod:`fruit_ext.apis.onnx_static_pads`). What runs outside the graph is
stored as ONNX metadata and read by
:class:`fruit_ext.apis.predictor.Predictor`: class names, aliases, and the
test pipeline's resize/crop with the data preprocessor's mean, std and
channel order, and the checkpoint's calibration (temperature, "unknown"
threshold) when it has one.

It uses torch's TorchScript-based exporter (``dynamo=False``): it needs only
``onnx`` and its logits match PyTorch's; the ``torch.export``-based exporter
gives the same graph but also needs onnxscript and is much slower. Measured
figures (logit parity, speed, the machine): docs/benchmarks.md#inference.
"""
import json
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import onnxruntime as ort
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from torch import nn

from .onnx_static_pads import fix_input_size, pipeline_output_size
from .predictor import (META_ALIASES, META_CALIBRATION, META_CLASSES,
                        META_PREPROCESS)

_LOADERS = ('LoadImageFromFile', 'RobustLoadImageFromFile')


class LogitsModel(nn.Module):
    """An mmpretrain classifier as ``normalised images -> logits``.

    Args:
        model: An mmpretrain classifier (``forward(x, mode='tensor')``).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of a normalised batch.

        Args:
            inputs: (N, 3, H, W) normalised images.

        Returns:
            (N, C) logits.
        """
        return self.model(inputs, mode='tensor')


def _size_pair(value) -> List[int]:
    return [int(value), int(value)] if isinstance(value, (int, float)) \
        else [int(v) for v in value]


def preprocess_spec(config: Config, model: nn.Module) -> Dict:
    """The preprocessing a predictor must apply, from config and model.

    Args:
        config: The model's config (its test pipeline is read).
        model: The built classifier (its data preprocessor gives mean, std
            and channel order).

    Returns:
        ``{'steps': [...], 'mean': [...], 'std': [...],
        'channel_order': 'rgb'|'bgr', 'min_size': int|None,
        'alpha_background': [r, g, b]}`` as JSON-ready data.

    Raises:
        ValueError: The pipeline holds a transform the predictor cannot
            reproduce.
    """
    pipeline = config.test_dataloader.dataset.pipeline
    steps = []
    decode = dict(min_size=None, alpha_background=[255, 255, 255])
    for transform in pipeline:
        kind = transform['type'].split('.')[-1]
        if kind == 'PackInputs':
            continue
        if kind in _LOADERS:
            decode = dict(
                min_size=transform.get('min_size'),
                alpha_background=list(
                    transform.get('alpha_background', (255, 255, 255))))
            continue
        if transform.get('backend', 'cv2') != 'pillow' and 'Resize' in kind:
            print_log(
                f'{kind} uses the cv2 backend; the ONNX predictor resizes '
                'with Pillow, so its inputs differ slightly from training.',
                logger='current', level=30)
        if kind == 'ResizeEdge':
            steps.append(dict(type='resize_edge', size=int(transform['scale']),
                              edge=transform.get('edge', 'short'),
                              interpolation=transform.get(
                                  'interpolation', 'bilinear')))
        elif kind == 'Resize' and not transform.get('keep_ratio', False) \
                and 'scale' in transform:
            steps.append(dict(type='resize',
                              size=_size_pair(transform['scale']),
                              interpolation=transform.get(
                                  'interpolation', 'bilinear')))
        elif kind == 'CenterCrop' and not transform.get('auto_pad', False):
            steps.append(dict(type='center_crop',
                              size=_size_pair(transform['crop_size'])))
        else:
            raise ValueError(
                f'test pipeline step {dict(transform)} has no equivalent in '
                'the ONNX predictor (supported: ResizeEdge, Resize with a '
                'fixed scale, CenterCrop).')
    preprocessor = model.data_preprocessor
    if getattr(preprocessor, '_enable_normalize', False):
        mean = preprocessor.mean.flatten().tolist()
        std = preprocessor.std.flatten().tolist()
    else:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    # Images are loaded BGR; with to_rgb the network sees RGB.
    rgb = bool(getattr(preprocessor, 'to_rgb', False))
    return dict(steps=steps, mean=mean, std=std,
                channel_order='rgb' if rgb else 'bgr', **decode)


def export_onnx(model: nn.Module,
                out_file: str,
                classes: Sequence[str],
                preprocess: Dict,
                aliases: Optional[Sequence[str]] = None,
                sample_size: Tuple[int, int] = (224, 224),
                opset: int = 17,
                calibration: Optional[Dict] = None,
                fix_size: bool = True) -> str:
    """Write the classifier as ONNX with dynamic batch, height and width.

    Padding computed from the input size (TF-style "same") is fixed for
    the test pipeline's size when ``fix_size`` and the pipeline always
    yields one size (logged): then the height and width are static.

    Args:
        model: An mmpretrain classifier in eval mode.
        out_file: ``.onnx`` file to write.
        classes: Class names, stored as metadata.
        preprocess: From :func:`preprocess_spec`, stored as metadata.
        aliases: English class aliases, stored as metadata if given.
        sample_size: (H, W) of the tracing input.
        opset: ONNX opset version.
        calibration: ``meta['calibration']`` of the checkpoint, stored as
            metadata if given (the graph still returns raw logits).
        fix_size: Fix size-dependent padding (see above); False keeps any
            size.

    Returns:
        ``out_file``.
    """
    wrapper = LogitsModel(model).eval()
    sample = torch.zeros(1, 3, *sample_size)
    with warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose (module docstring).
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        torch.onnx.export(
            wrapper, (sample, ),
            out_file,
            input_names=['input'],
            output_names=['logits'],
            dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'},
                          'logits': {0: 'batch'}},
            opset_version=opset,
            dynamo=False)
    graph = onnx.load(out_file)
    metadata = {META_CLASSES: list(classes), META_PREPROCESS: preprocess}
    if aliases:
        metadata[META_ALIASES] = list(aliases)
    if calibration:
        metadata[META_CALIBRATION] = calibration
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value, ensure_ascii=False)
    size = pipeline_output_size(preprocess['steps'])
    if fix_size and size and fix_input_size(graph, *size):
        print_log(f'{out_file}: its padding depends on the input size '
                  '(TF-style "same"), so the graph takes only the test '
                  f'pipeline\'s {size[0]}x{size[1]} px (height x width), '
                  'with the padding folded into the convolutions',
                  logger='current')
    onnx.checker.check_model(graph)
    onnx.save(graph, out_file)
    return out_file


def max_logit_difference(model: nn.Module, onnx_file: str,
                         inputs: torch.Tensor) -> float:
    """Largest absolute logit difference between PyTorch and onnxruntime.

    Args:
        model: The classifier that was exported.
        onnx_file: The exported file.
        inputs: (N, 3, H, W) normalised batch.

    Returns:
        max |logits_torch - logits_onnxruntime|.
    """
    session = ort.InferenceSession(
        onnx_file, providers=['CPUExecutionProvider'])
    with torch.no_grad():
        expected = LogitsModel(model).eval()(inputs).cpu().numpy()
    actual = session.run(None, {'input': inputs.cpu().numpy()})[0]
    return float(np.abs(expected - actual).max())
