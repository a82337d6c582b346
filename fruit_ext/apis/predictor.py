"""Run an exported fruit_ext model with onnxruntime, Pillow and numpy only.

This file and ``image_core.py`` beside it (fruit_ext's image decoder, the one
training uses) import nothing else (no torch, no OpenMMLab), so the two files
can be copied next to ``model.onnx`` onto any machine with ``pip install
onnxruntime pillow numpy`` and used as a library or a command::

    python predictor.py model.onnx photo.jpg [more.jpg ...] [--topk 3]

The ONNX file written by ``tools/deploy/export_onnx.py`` carries what is
needed besides the weights, as metadata: the class names (and English
aliases), the preprocessing (resize, crop, mean/std) of the config's test
pipeline and, when the checkpoint was calibrated, the temperature and the
"unknown" threshold (``fruit_ext/evaluation/calibration.py`` fits them; the
few lines applying them are repeated here so the two files stay alone).
"""
import argparse
import importlib.util
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import onnxruntime as ort
from PIL import Image


def _sibling(name: str):
    """fruit_ext's module ``name`` (``image_core``, ``openvino_backend``):
    the package's, else ``name.py`` beside this file (run as a script, or
    copied next to the model)."""
    if __package__:
        return importlib.import_module(f'.{name}', __package__)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        f'{name}.py')
    if not os.path.isfile(path):
        raise ImportError(f'{path} is missing: copy {name}.py from '
                          'fruit_ext/apis/ next to predictor.py.')
    spec = importlib.util.spec_from_file_location(f'_fruit_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


image_core = _sibling('image_core')

#: ONNX metadata keys written by the exporter and read here.
META_CLASSES = 'fruit_ext.classes'
META_ALIASES = 'fruit_ext.aliases'
META_PREPROCESS = 'fruit_ext.preprocess'
META_CALIBRATION = 'calibration'
#: the runtime a Predictor uses unless told (docs/benchmarks.md, "int8 and
#: OpenVINO")
DEFAULT_BACKEND = 'onnxruntime'

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax.

    Args:
        logits: (N, C) scores.

    Returns:
        (N, C) probabilities.
    """
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def unknown_rule(calibration: Optional[Dict], threshold: Optional[float],
                 accept: Optional[float]) -> Dict:
    """Which score, threshold and temperature decide "unknown".

    Same rule as ``BatchInferencer``: a ``threshold`` given by hand is a
    probability on the best calibrated score; ``accept`` picks the stored
    calibration's threshold for that share of accepted val images; else the
    stored threshold; without a calibration nothing is unknown.

    Args:
        calibration: The model's stored calibration, or None.
        threshold: Explicit threshold on the best (calibrated) probability.
        accept: Share of in-class val images to accept (0.7 to 1).

    Returns:
        ``{'temperature', 'score': 'msp'|'energy', 'threshold'}``.
    """
    temperature = float(calibration['temperature']) if calibration else 1.0
    if threshold is not None:
        return dict(temperature=temperature, score='msp',
                    threshold=float(threshold))
    if accept is not None:
        levels = (calibration or {}).get('quantile_levels')
        if not levels or not 1 - levels[-1] - 1e-9 <= accept <= 1:
            raise ValueError(
                f'accept={accept}: needs a calibrated model (stored val '
                'score quantiles) and a value from 0.7 to 1.')
        return dict(temperature=temperature, score=calibration['score'],
                    threshold=float(np.interp(1 - accept, levels,
                                              calibration['quantiles'])))
    if calibration:
        return dict(temperature=temperature, score=calibration['score'],
                    threshold=float(calibration['threshold']))
    return dict(temperature=1.0, score='msp', threshold=0.0)


def ood_score(logits: np.ndarray, temperature: float, kind: str) -> np.ndarray:
    """Best calibrated probability ('msp') or ``T * logsumexp(z / T)``."""
    scaled = np.asarray(logits, np.float64) / temperature
    if kind == 'msp':
        return softmax(scaled).max(axis=1)
    top = scaled.max(axis=1)
    return temperature * (top + np.log(np.exp(
        scaled - top[:, None]).sum(axis=1)))


class Predictor:
    """Classify images with an ONNX model exported by fruit_ext.

    Args:
        onnx_file: The ``.onnx`` file.
        providers: onnxruntime execution providers (CPU by default).
        num_threads: Intra-op threads; the runtime's default when None.
        backend: 'onnxruntime', or 'openvino' (``openvino_backend.py``
            beside this file; reads the ``.onnx`` files, fp32 or int8, and
            the OpenVINO ``.xml`` of ``tools/deploy/export_openvino.py``).

    Raises:
        FileNotFoundError: ``onnx_file`` does not exist.
        ValueError: The file lacks fruit_ext's metadata.
    """

    def __init__(self,
                 onnx_file: Union[str, os.PathLike],
                 providers: Optional[Sequence[str]] = None,
                 num_threads: Optional[int] = None,
                 backend: str = DEFAULT_BACKEND) -> None:
        if not os.path.isfile(onnx_file):
            raise FileNotFoundError(f'ONNX model not found: {onnx_file}')
        if backend == 'openvino':
            self.session = _sibling('openvino_backend').OpenVINOSession(
                onnx_file, num_threads)
        elif backend == 'onnxruntime':
            options = ort.SessionOptions()
            if num_threads:
                options.intra_op_num_threads = num_threads
            self.session = ort.InferenceSession(
                os.fspath(onnx_file), options,
                providers=list(providers or ['CPUExecutionProvider']))
        else:
            raise ValueError(f"backend={backend!r}: use 'onnxruntime' or "
                             "'openvino'.")
        self.backend = backend
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = [key for key in (META_CLASSES, META_PREPROCESS)
                   if key not in meta]
        if missing:
            raise ValueError(
                f'{onnx_file} has no {" / ".join(missing)} metadata: export '
                'it with tools/deploy/export_onnx.py.')
        self.classes: List[str] = json.loads(meta[META_CLASSES])
        self.aliases: Optional[List[str]] = json.loads(
            meta[META_ALIASES]) if META_ALIASES in meta else None
        self.preprocess_cfg: Dict = json.loads(meta[META_PREPROCESS])
        self.calibration: Optional[Dict] = json.loads(
            meta[META_CALIBRATION]) if META_CALIBRATION in meta else None
        self.input_name = self.session.get_inputs()[0].name

    def preprocess(self, image: ImageInput) -> np.ndarray:
        """Turn one image into the network's normalised CHW input.

        Args:
            image: A path, a PIL image or an RGB ``uint8`` array (H, W, 3).

        Returns:
            (3, H, W) float32 array.

        Raises:
            ValueError: The file cannot be decoded as an image.
        """
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        elif not isinstance(image, Image.Image):
            image = self.load(image)
        image = image_core.to_rgb(
            image, tuple(self.preprocess_cfg.get('alpha_background')
                         or image_core.WHITE))
        for step in self.preprocess_cfg['steps']:
            if step['type'] == 'resize_edge':
                image = image_core.resize_edge(
                    image, step['size'], step['edge'], step['interpolation'])
            elif step['type'] == 'resize':
                image = image.resize(
                    tuple(step['size']),
                    image_core.INTERPOLATION[step['interpolation']])
            elif step['type'] == 'center_crop':
                image = image_core.center_crop(image, *step['size'])
            else:
                raise ValueError(f'Unknown preprocessing step {step}')
        pixels = np.asarray(image, dtype=np.float32)
        if self.preprocess_cfg.get('channel_order', 'rgb') == 'bgr':
            pixels = pixels[..., ::-1]
        mean = np.asarray(self.preprocess_cfg['mean'], np.float32)
        std = np.asarray(self.preprocess_cfg['std'], np.float32)
        return ((pixels - mean) / std).transpose(2, 0, 1)

    def load(self, path: Union[str, os.PathLike]) -> Image.Image:
        """Decode an image file exactly as the training pipeline does.

        :func:`image_core.load_rgb`, the decoder of fruit_ext's
        ``RobustLoadImageFromFile``: EXIF orientation applied, alpha on
        the exported ``alpha_background``, 16-bit and float greys scaled,
        CMYK and palette converted, and with ``min_size`` JPEGs decoded at
        the largest 1/2, 1/4 or 1/8 scale keeping both sides that long.

        Args:
            path: Image file.

        Returns:
            The decoded RGB image.

        Raises:
            ValueError: The file cannot be decoded as an image (the message
                names the file and says why).
        """
        try:
            pixels = image_core.load_rgb(
                path, self.preprocess_cfg.get('min_size'),
                tuple(self.preprocess_cfg.get('alpha_background')
                      or image_core.WHITE))
        except image_core.BrokenImageError as error:
            raise ValueError(
                f'Cannot read image {path}: {error.reason}') from None
        return Image.fromarray(pixels)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw class scores of a preprocessed batch.

        Args:
            batch: (N, 3, H, W) float32.

        Returns:
            (N, C) logits.
        """
        return self.session.run(
            None, {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]

    def __call__(self, images: Union[ImageInput, Sequence[ImageInput]],
                 topk: int = 5,
                 threshold: Optional[float] = None,
                 accept: Optional[float] = None,
                 tta: bool = False) -> List[Dict]:
        """Predict images.

        Images of the same preprocessed size run as one batch. A stored
        calibration (temperature, "unknown" threshold) is applied.

        Args:
            images: One image or a list (paths, PIL images, RGB arrays).
            topk: How many best classes to list per image (at least 1;
                more than there are classes lists them all).
            threshold: Best calibrated probability below which an image is
                unknown; overrides the stored threshold.
            accept: Use the stored calibration's threshold for this share
                of accepted in-class val images instead (0.7 to 1).
            tta: Also run the mirror image and average the logits.

        Returns:
            One dict per image, with mmpretrain's keys ``pred_label``,
            ``pred_score``, ``pred_class``, ``pred_scores`` (calibrated) and
            ``topk``: a list of ``(label, class name, score)``; the best
            guess is kept when ``unknown`` is True. Also ``threshold``,
            ``score`` (the value compared with it), ``score_kind`` and
            ``temperature``.
        """
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise ValueError(f'topk must be a whole number >= 1, got {topk!r}')
        if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)):
            images = [images]
        rule = unknown_rule(self.calibration, threshold, accept)
        inputs = [self.preprocess(image) for image in images]
        logits: List[np.ndarray] = [None] * len(inputs)
        by_shape: Dict[tuple, List[int]] = {}
        for index, array in enumerate(inputs):
            by_shape.setdefault(array.shape, []).append(index)
        for indices in by_shape.values():
            batch = np.stack([inputs[i] for i in indices])
            out = self.logits(batch)
            if tta:  # mirror image: flip the width axis, average the logits
                out = (out + self.logits(batch[..., ::-1])) / 2
            for i, row in zip(indices, out):
                logits[i] = row
        return [self._result(row, topk, rule) for row in logits]

    def _result(self, logits: np.ndarray, topk: int, rule: Dict) -> Dict:
        prob = softmax(logits[None] / rule['temperature'])[0]
        score = float(ood_score(logits[None], rule['temperature'],
                                rule['score'])[0])
        order = np.argsort(-prob)[:topk]
        label = int(order[0])
        return dict(
            pred_label=label,
            pred_score=float(prob[label]),
            pred_class=self.classes[label],
            pred_scores=prob,
            topk=[(int(i), self.classes[i], float(prob[i])) for i in order],
            unknown=score < rule['threshold'], threshold=rule['threshold'],
            score=score, score_kind=rule['score'],
            temperature=rule['temperature'])


def positive_int(text: str) -> int:
    """Parse a command-line count that must be at least 1.

    Args:
        text: The argument as typed.

    Returns:
        The number.

    Raises:
        argparse.ArgumentTypeError: Not a whole number >= 1.
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'must be a whole number >= 1, got {text!r}')
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: print the top-k classes of each image as JSON lines.

    Returns:
        1 if an image could not be read (it gets an ``error`` line), else 0.
    """
    parser = argparse.ArgumentParser(
        description='Classify images with a fruit_ext ONNX model.')
    parser.add_argument('onnx', help='model exported by export_onnx.py')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--topk', type=positive_int, default=3,
                        help='classes listed per image (>= 1, default 3)')
    parser.add_argument('--threshold', type=float, help='best calibrated '
                        'probability below which an image is "unknown" '
                        "(default: the model's stored threshold)")
    parser.add_argument('--accept', type=float, help='instead, the stored '
                        'threshold for this share of accepted val images')
    parser.add_argument('--tta', action='store_true',
                        help='average the logits with the mirror image')
    parser.add_argument('--backend', choices=['onnxruntime', 'openvino'],
                        default=DEFAULT_BACKEND, help='inference runtime')
    args = parser.parse_args(argv)
    predictor = Predictor(args.onnx, backend=args.backend)
    failed = 0
    for path in args.images:
        try:
            result = predictor(path, topk=args.topk, threshold=args.threshold,
                               accept=args.accept, tta=args.tta)[0]
        except ValueError as error:
            print(json.dumps({'image': path, 'error': str(error)},
                             ensure_ascii=False))
            failed += 1
            continue
        print(json.dumps({
            'image': path,
            'topk': [{'label': label, 'class': name, 'score': round(score, 4)}
                     for label, name, score in result['topk']],
            'unknown': bool(result['unknown']),
            'threshold': round(result['threshold'], 6)
        }, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
