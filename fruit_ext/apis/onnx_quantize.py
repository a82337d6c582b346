"""int8 ONNX models: static QDQ quantization calibrated on real images.

``quantize_onnx`` turns an fp32 model written by :func:`export_onnx` into an
int8 one with onnxruntime's static quantizer: QDQ format (QuantizeLinear /
DequantizeLinear pairs, which onnxruntime and OpenVINO both run as int8
kernels), int8 weights per output channel, uint8 activations whose ranges
are measured on calibration images. An RGB stem reads a zero 4th channel
(onnxruntime's fast int8 convolutions need 4k input channels). For TF-style
"same" padding (EfficientNet-Lite0), :mod:`~fruit_ext.apis.onnx_int8_graph`
keeps the padding arithmetic in float and runs each Pad on the uint8
tensor, so the int8 graph stays in one piece. The images go through the
model's own preprocessing, read from the fp32 file's metadata by the
:class:`~fruit_ext.apis.predictor.Predictor` (the config's test pipeline,
byte for byte), so calibration sees what inference will see. All metadata
of the fp32 file (classes, aliases, preprocessing, calibration) is copied,
plus ``fruit_ext.quantization`` saying how it was made; the Predictor runs
the int8 file unchanged. Measured speed and accuracy: docs/benchmarks.md,
"int8 and OpenVINO".
"""
import json
import os.path as osp
import random
import tempfile
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader,
                                      CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from ..datasets.hidden import walk_visible
from .onnx_int8_graph import (pad_channels, pad_in_integers,
                              padding_arithmetic, unshare_constants)
from .predictor import Predictor

META_QUANTIZATION = 'fruit_ext.quantization'
#: ops that get int8 kernels. The float shape arithmetic of TF-style
#: "same" padding (Sub, Div, Ceil, Mul, Clip, Add on sizes) is also left
#: out by node (``padding_arithmetic``): quantizing it shifted the padding
#: (top-1 agreement with fp32 fell to chance).
QUANTIZED_OPS = ('Conv', 'Gemm', 'MatMul', 'Add', 'GlobalAveragePool',
                 'Clip', 'Relu', 'Pad')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


class ImageCalibrationReader(CalibrationDataReader):
    """Feed calibration images, one by one, preprocessed as the model wants.

    Args:
        predictor: Predictor of the fp32 model (its preprocessing is used).
        images: Image files.
    """

    def __init__(self, predictor: Predictor, images: Sequence[str]) -> None:
        self.predictor, self.images = predictor, list(images)
        self._iter: Optional[Iterator[str]] = None

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        """The next ``{input name: (1, 3, H, W) batch}``, None at the end."""
        if self._iter is None:
            self._iter = iter(self.images)
        path = next(self._iter, None)
        if path is None:
            return None
        return {self.predictor.input_name:
                self.predictor.preprocess(path)[None]}

    def rewind(self) -> None:
        """Start again from the first image."""
        self._iter = None


def images_in(folder: str) -> List[str]:
    """Image files under ``folder`` (recursively), sorted.

    Args:
        folder: A folder of images (any layout, e.g. ``val/<class>/*.jpg``).

    Returns:
        The files.

    Raises:
        ValueError: The folder is missing or holds no image.
    """
    if not osp.isdir(folder):
        raise ValueError(f'{folder}: calibration folder not found.')
    found = [path for path in walk_visible(folder)[0]
             if path.lower().endswith(IMAGE_SUFFIXES)]
    if not found:
        raise ValueError(f'{folder}: no images ({", ".join(IMAGE_SUFFIXES)})'
                         ' to calibrate on; pass --calib-dir with some.')
    return found


def val_images(config) -> List[str]:
    """The image files of a config's validation split.

    Args:
        config: The model's config (``val_dataloader.dataset`` is built).

    Returns:
        The files, in the dataset's order.

    Raises:
        ValueError: The config has no validation split, or it is empty.
    """
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS
    loader = config.get('val_dataloader')
    if not loader:
        raise ValueError('the config has no val_dataloader to calibrate on; '
                         'pass --calib-dir with some of your images.')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(dict(loader.dataset, pipeline=[]))
    files = [dataset.get_data_info(i)['img_path']
             for i in range(len(dataset))]
    if not files:
        raise ValueError('the validation split is empty; pass --calib-dir '
                         'with some of your images.')
    return files


def pick(images: Sequence[str], count: int, seed: int = 0) -> List[str]:
    """A seeded sample of ``count`` images (all when there are fewer).

    Args:
        images: Candidates.
        count: How many.
        seed: Sampling seed.

    Returns:
        The sample, in the candidates' order.
    """
    if count >= len(images):
        return list(images)
    chosen = set(random.Random(seed).sample(range(len(images)), count))
    return [image for i, image in enumerate(images) if i in chosen]


def quantize_onnx(fp32_file: str, out_file: str, images: Sequence[str],
                  method: str = 'MinMax') -> str:
    """Write the int8 (QDQ) version of an exported fp32 model.

    Args:
        fp32_file: ``.onnx`` written by :func:`export_onnx`.
        out_file: ``.onnx`` to write (a file of the same name is replaced).
        images: Calibration image files (a few hundred is plenty).
        method: onnxruntime calibration method: 'MinMax', 'Entropy' or
            'Percentile'.

    Returns:
        ``out_file``.

    Raises:
        ValueError: No images, or ``out_file`` is ``fp32_file``.
    """
    if not images:
        raise ValueError('quantize_onnx: no calibration images given.')
    if osp.abspath(out_file) == osp.abspath(fp32_file):
        raise ValueError(f'{out_file}: the int8 model would overwrite the '
                         'fp32 one; choose another --out.')
    predictor = Predictor(fp32_file)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = osp.join(tmp, 'prepared.onnx')
        # shape inference and graph folding first, as onnxruntime advises
        quant_pre_process(fp32_file, prepared, skip_symbolic_shape=True)
        model = onnx.load(prepared)
        excluded = padding_arithmetic(model)
        unshare_constants(model, excluded)
        channel_pads = pad_channels(model)
        onnx.save(model, prepared)
        quantize_static(
            prepared, out_file,
            ImageCalibrationReader(predictor, images),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, method),
            op_types_to_quantize=list(QUANTIZED_OPS),
            nodes_to_exclude=sorted(excluded))
    fp32 = onnx.load(fp32_file, load_external_data=False)
    int8 = onnx.load(out_file)
    integer_pads = pad_in_integers(int8)
    del int8.metadata_props[:]
    for entry in fp32.metadata_props:
        int8.metadata_props.add(key=entry.key, value=entry.value)
    int8.metadata_props.add(key=META_QUANTIZATION, value=json.dumps(dict(
        format='QDQ', weights='int8 per channel', activations='uint8',
        integer_pads=integer_pads, channel_pads=channel_pads,
        calibration_images=len(images),
        method=method,
        source=osp.basename(fp32_file))))
    onnx.save(int8, out_file)
    return out_file


def top1_agreement(fp32_file: str, int8_file: str,
                   images: Sequence[str]) -> Dict:
    """How often the int8 model's top-1 class is the fp32 model's.

    Args:
        fp32_file: The fp32 model.
        int8_file: Its int8 version.
        images: Image files (best not the calibration images).

    Returns:
        ``{'images', 'agree', 'agreement', 'max_score_difference'}``.
    """
    fp32, int8 = Predictor(fp32_file), Predictor(int8_file)
    agree, worst = 0, 0.0
    for image in images:
        want, got = fp32(image, topk=1)[0], int8(image, topk=1)[0]
        agree += int(want['pred_label'] == got['pred_label'])
        worst = max(worst, float(np.abs(want['pred_scores'] -
                                        got['pred_scores']).max()))
    return dict(images=len(images), agree=agree,
                agreement=agree / max(len(images), 1),
                max_score_difference=worst)


def int8_path(fp32_file: str) -> str:
    """``model.onnx`` -> ``model.int8.onnx``."""
    stem, ext = osp.splitext(fp32_file)
    return f'{stem}.int8{ext or ".onnx"}'


def export_int8(fp32_file: str, config, calib_dir: Optional[str] = None,
                calib_n: int = 200, verify: Sequence[str] = ()) -> List[str]:
    """``export_onnx.py --int8``: quantize, then compare with fp32.

    Args:
        fp32_file: The exported fp32 model.
        config: Its config (the val split is the default calibration set).
        calib_dir: Folder of calibration images instead of the val split.
        calib_n: How many calibration images (a seeded sample).
        verify: Images to compare top-1 on (calibration images among
            them are left out).

    Returns:
        Lines to print.

    Raises:
        ValueError: No calibration images (the message says what to do).
    """
    found = images_in(calib_dir) if calib_dir else val_images(config)
    images = pick(found, calib_n)
    out = quantize_onnx(fp32_file, int8_path(fp32_file), images)
    where = calib_dir or 'the val split'
    lines = [f'exported {out} ({osp.getsize(out) / 2**20:.1f} MiB, int8 '
             f'QDQ, per-channel weights; calibrated on {len(images)} '
             f'images of {where})']
    used = {osp.abspath(image) for image in images}
    independent = [image for image in verify
                   if osp.abspath(image) not in used]
    if independent:
        result = top1_agreement(fp32_file, out, independent)
        lines.append(
            f"int8 top-1 agrees with fp32 on {result['agree']}/"
            f"{result['images']} images (calibration images left out); max "
            f"|score difference| {result['max_score_difference']:.3g}")
    return lines
