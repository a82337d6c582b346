"""Make mmpretrain's image inferencer read files with the config's loader.

mmpretrain 1.2's ``ImageClassificationInferencer`` (behind
``mmpretrain.inference_model``, ``ImageClassificationInferencer(name)`` and
``tools/image_demo.py``) drops ``LoadImageFromFile`` from the test pipeline
and decodes every input with ``mmcv.imread`` itself. With fruit_ext's
``RobustLoadImageFromFile`` in the pipeline that is a different decode from
validation's: a transparent PNG shows what lies under its alpha, a CMYK JPEG
gets other colours, 16-bit greys are cut to their high byte, the reduced
JPEG decode is skipped, and an empty file fails inside OpenCV
(``!buf.empty()``).

:func:`apply` patches the two methods involved, and only for configs whose
test pipeline holds ``RobustLoadImageFromFile``: a file input then goes
through the whole test pipeline, loader included, exactly as validation and
``tools/infer.py`` read it. Arrays are handled as mmpretrain does (the
loader passes a decoded ``img`` through). :func:`revert` undoes it.
"""
import os
from typing import Callable, Dict, Iterator, List

from mmengine.dataset import Compose, default_collate
from mmengine.registry import DefaultScope
from mmpretrain.apis import ImageClassificationInferencer
from mmpretrain.registry import TRANSFORMS

from ..compat._log import log_once

LOADER = 'RobustLoadImageFromFile'
_ORIGINAL: Dict[str, Callable] = {}


def _type_name(transform) -> str:
    kind = transform.get('type', '') if hasattr(transform, 'get') else ''
    return getattr(kind, '__name__', str(kind)).split('.')[-1]


def _init_pipeline(self: ImageClassificationInferencer, cfg) -> Callable:
    """Build mmpretrain's pipeline, plus the full one for file inputs.

    Args:
        self: The inferencer.
        cfg: Its config.

    Returns:
        mmpretrain's pipeline (for array inputs).
    """
    pipeline = _ORIGINAL['_init_pipeline'](self, cfg)
    transforms = cfg.test_dataloader.dataset.pipeline
    self._file_pipeline = None
    if any(_type_name(t) == LOADER for t in transforms):
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self._file_pipeline = Compose(
                [TRANSFORMS.build(t) for t in transforms])
        log_once('inferencer_loading',
                 'ImageClassificationInferencer reads image files with the '
                 f"config's test pipeline ({LOADER}), as validation does, "
                 'instead of mmcv.imread.')
    return pipeline


def _preprocess(self: ImageClassificationInferencer, inputs: List,
                batch_size: int = 1) -> Iterator[dict]:
    """Load and transform inputs; files go through the full test pipeline.

    Args:
        self: The inferencer.
        inputs: Image paths or arrays.
        batch_size: Samples per batch.

    Yields:
        Collated batches.
    """
    file_pipeline = getattr(self, '_file_pipeline', None)
    if file_pipeline is None:
        yield from _ORIGINAL['preprocess'](self, inputs, batch_size)
        return

    def load(input_) -> dict:
        if isinstance(input_, (str, os.PathLike)):
            return file_pipeline(dict(img_path=os.fspath(input_)))
        return self.pipeline(dict(img=input_, img_shape=input_.shape[:2],
                                  ori_shape=input_.shape[:2]))

    chunked = self._get_chunk_data(map(load, inputs), batch_size)
    yield from map(default_collate, chunked)


def _postprocess(self: ImageClassificationInferencer, preds: List,
                 visualization: List, return_datasamples: bool = False):
    """mmpretrain's results, plus ``unknown``/``threshold``/``ood_score``
    where the model applies a stored calibration (``calibrated_head``)."""
    results = _ORIGINAL['postprocess'](self, preds, visualization,
                                       return_datasamples)
    if return_datasamples:
        return results
    for result, sample in zip(results, preds):
        for key in ('unknown', 'threshold', 'ood_score'):
            if key in sample:
                result[key] = sample.get(key)
    return results


def apply() -> None:
    """Patch ``ImageClassificationInferencer`` (once per process)."""
    if _ORIGINAL:
        return
    cls = ImageClassificationInferencer
    _ORIGINAL['_init_pipeline'] = cls._init_pipeline
    _ORIGINAL['preprocess'] = cls.preprocess
    _ORIGINAL['postprocess'] = cls.postprocess
    cls._init_pipeline = _init_pipeline
    cls.preprocess = _preprocess
    cls.postprocess = _postprocess


def revert() -> None:
    """Restore mmpretrain's own methods."""
    cls = ImageClassificationInferencer
    for name, method in _ORIGINAL.items():
        setattr(cls, name, method)
    _ORIGINAL.clear()
