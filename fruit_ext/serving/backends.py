"""PyTorch and ONNX models behind one ``predict(threshold, jobs)``.

Both give the same plain result per image::

    {'pred_label', 'pred_class', 'pred_alias', 'pred_score', 'unknown',
     'threshold', 'topk': [{'label', 'class', 'alias', 'score'}, ...]}

``pred_*`` is the best guess, kept when the model says ``unknown``. Scores,
``unknown`` and the threshold are those the model's own API returns
(calibrated ones where the checkpoint or ONNX file stores a calibration);
an explicit threshold overrides the stored one.
"""
import inspect
import io
import os
import os.path as osp
import shutil
import tempfile
import uuid
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .batching import Job
from .core import predictor_module
from .limits import Limits, UploadError, decode_upload

WHITE = (255, 255, 255)


def model_name(path: str) -> str:
    """A short name for a config, work dir, checkpoint or ONNX file."""
    path = path.rstrip('/\\')
    return osp.splitext(osp.basename(path))[0] if osp.isfile(path) \
        else osp.basename(path)


def input_size(steps: Sequence[Dict]) -> Optional[List[int]]:
    """(height, width) the network sees, from predictor-style steps."""
    for step in reversed(steps):
        size = step.get('size')
        if step['type'] in ('center_crop', 'resize'):
            return [int(size[1]), int(size[0])]
        if step['type'] == 'resize_edge':
            return [int(size), int(size)]
    return None


def result_dict(topk: Sequence[Tuple[int, str, float]],
                aliases: Sequence[str], answer: Dict,
                threshold: Optional[float]) -> Dict:
    """The common result of one image.

    Args:
        topk: ``(label, class, score)``, best first.
        aliases: English alias per label.
        answer: The model API's own result (``unknown``, ``threshold``,
            ``score_kind`` when it has them).
        threshold: The threshold asked for (None: the model's).
    """
    label, name, score = topk[0]
    threshold = float(answer.get('threshold', threshold) or 0.0)
    unknown = answer.get('unknown')
    if unknown is None:  # a model API without "unknown"
        unknown = score < threshold
    return dict(
        pred_label=int(label), pred_class=name, pred_alias=aliases[label],
        pred_score=round(float(score), 6), unknown=bool(unknown),
        threshold=round(threshold, 6),
        score_kind=answer.get('score_kind', 'msp'),
        topk=[{'label': int(i), 'class': c, 'alias': aliases[i],
               'score': round(float(s), 6)} for i, c, s in topk])


class Backend:
    """What the server needs from a model.

    Attributes:
        backend: 'pytorch' or 'onnx'.
        name: Model name shown on the page and in answers.
        classes: Class names; aliases: English alias per class.
        input_size: (height, width) of the network input, if fixed.
        min_size: The test loader's reduced-JPEG ``min_size``.
        background: The test loader's alpha background colour.
        default_threshold: The model's stored "unknown" threshold (0: none).
        default_rule: (score kind, threshold) stored: 'msp' compares the
            best calibrated probability, 'energy' the energy score.
        supports_cam: Whether :meth:`cam` works (PyTorch with Grad-CAM).
    """
    backend = ''
    supports_cam = False

    def __init__(self, name: str, classes: Sequence[str],
                 aliases: Sequence[str], steps: Sequence[Dict],
                 min_size: Optional[int], background: Sequence[int]) -> None:
        self.name = name
        self.classes = list(classes)
        self.aliases = list(aliases)
        self.input_size = input_size(steps)
        self.min_size = min_size
        self.background = tuple(background or WHITE)
        self.default_threshold = self._warm_up()

    def decode(self, data: bytes, name: str, limits: Limits) -> np.ndarray:
        """Check and decode an upload as this model's test loader would."""
        return decode_upload(data, name, limits, self.min_size,
                             self.background)

    def _warm_up(self) -> float:
        """Run one image (first calls are slow); read the stored threshold."""
        from PIL import Image
        buffer = io.BytesIO()
        Image.new('RGB', (64, 64), (128, 128, 128)).save(buffer, 'PNG')
        data = buffer.getvalue()
        job = Job(self.decode(data, 'warm-up', Limits()), data, topk=1)
        result = self.predict(None, [job])[0]
        if isinstance(result, BaseException):
            raise result
        self.default_rule = (result['score_kind'], result['threshold'])
        return result['threshold']

    def predict(self, threshold: Optional[float],
                jobs: List[Job]) -> List[object]:
        """Results (or an :class:`UploadError` each) for a batch."""
        raise NotImplementedError

    def health(self) -> Dict:
        """What ``GET /api/health`` reports about the model."""
        return dict(model=self.name, backend=self.backend,
                    classes=self.classes, aliases=self.aliases,
                    input_size=self.input_size,
                    threshold=self.default_threshold,
                    unknown_score=self.default_rule[0],
                    grad_cam=self.supports_cam)


class OnnxBackend(Backend):
    """The standalone ONNX :class:`Predictor` (onnxruntime, no torch).

    Args:
        onnx_file: Model written by ``tools/deploy/export_onnx.py``.
        threads: onnxruntime intra-op threads (its default when None).
    """
    backend = 'onnx'

    def __init__(self, onnx_file: str, threads: Optional[int] = None) -> None:
        self.predictor = predictor_module().Predictor(
            onnx_file, num_threads=threads)
        spec = self.predictor.preprocess_cfg
        self._takes_threshold = 'threshold' in inspect.signature(
            self.predictor.__call__).parameters
        classes = self.predictor.classes
        super().__init__(model_name(onnx_file), classes,
                         self.predictor.aliases or classes, spec['steps'],
                         spec.get('min_size'), spec.get('alpha_background'))

    def predict(self, threshold: Optional[float],
                jobs: List[Job]) -> List[object]:
        kwargs = {}
        if threshold is not None and self._takes_threshold:
            kwargs['threshold'] = threshold
        results = self.predictor([job.image for job in jobs],
                                 topk=max(job.topk for job in jobs), **kwargs)
        return [result_dict(r['topk'][:job.topk], self.aliases, r, threshold)
                for job, r in zip(jobs, results)]


class TorchBackend(Backend):
    """A config + checkpoint (or work dir) through :class:`BatchInferencer`.

    Each batch runs ``BatchInferencer.predict`` on the uploaded bytes (kept
    in a private temporary folder for the call), so the answer is exactly
    ``inference_model``'s for the same file.

    Args:
        config: Config, work dir, model-index name or checkpoint alone.
        checkpoint: Checkpoint (optional after a work dir).
        device: Torch device.
        max_batch: Images per forward pass.
    """
    backend = 'pytorch'

    def __init__(self, config: str, checkpoint: Optional[str] = None,
                 device: str = 'cpu', max_batch: int = 16) -> None:
        from ..apis.batch_inference import BatchInferencer
        from ..apis.onnx_export import preprocess_spec
        from ..datasets.categories import alias_for
        self.inferencer = BatchInferencer(config, checkpoint, device=device,
                                          batch_size=max_batch)
        model = self.inferencer.inferencer.model
        try:
            spec = preprocess_spec(self.inferencer.inferencer.config, model)
        except ValueError:  # a step the ONNX predictor lacks: size unknown
            spec = dict(steps=[], min_size=None, alpha_background=WHITE)
        self._tmp = tempfile.mkdtemp(prefix='fruit_serve_')
        classes = self.inferencer.classes
        self.supports_cam = _cam_available()
        super().__init__(model_name(checkpoint or config), classes,
                         self.inferencer.aliases or
                         [alias_for(c) for c in classes],
                         spec['steps'], spec.get('min_size'),
                         spec.get('alpha_background'))

    def predict(self, threshold: Optional[float],
                jobs: List[Job]) -> List[object]:
        paths = []
        for job in jobs:
            paths.append(osp.join(self._tmp, uuid.uuid4().hex))
            with open(paths[-1], 'wb') as file:
                file.write(job.data)
        kwargs = dict(topk=max(job.topk for job in jobs), progress=False)
        if threshold is not None:
            kwargs['threshold'] = threshold
        try:
            predictions, skipped = self.inferencer.predict(paths, **kwargs)
        finally:
            for path in paths:
                os.remove(path)
        by_path = {p.path: p for p in predictions}
        problems = dict(skipped)
        return [self._result(job, by_path.get(path), problems.get(path))
                for job, path in zip(jobs, paths)]

    def _result(self, job: Job, prediction, problem: Optional[str]):
        if prediction is None:  # decoded before, so rare: say what happened
            return UploadError(f'{job.name}: {problem}', 'unreadable')
        row = prediction.to_dict()
        topk = [(t['label'], t['class'], t['score']) for t in row['topk']]
        return result_dict(topk[:job.topk], self.aliases, row,
                           getattr(prediction, 'threshold', None))

    def cam(self, image: np.ndarray, label: int) -> np.ndarray:
        """Grad-CAM overlay of ``label`` on the RGB picture."""
        from ..visualization.cam import grad_cam_overlay
        inferencer = self.inferencer.inferencer
        return grad_cam_overlay(inferencer.model, image, target_label=label,
                                config=inferencer.config)

    def close(self) -> None:
        """Remove the temporary folder."""
        shutil.rmtree(self._tmp, ignore_errors=True)


def _cam_available() -> bool:
    """Whether ``fruit_ext.visualization.cam.grad_cam_overlay`` imports."""
    try:
        from ..visualization import cam
    except ImportError:
        return False
    return hasattr(cam, 'grad_cam_overlay')
