"""Apply a checkpoint's calibration inside the model's head.

:func:`attach_calibration` is called whenever fruit_ext loads a checkpoint
for use (``init_model``, ``get_model``/``inference_model`` through the model
index, ``ImageClassificationInferencer``, ``BatchInferencer``): the head's
``predict`` then returns temperature-scaled ``pred_score`` and marks each
data sample with ``unknown``, ``ood_score`` and ``threshold`` (stored
threshold). Raw logits (``mode='tensor'``, the ONNX graph) are unchanged,
so the temperature is never applied twice.
"""
from typing import List, Optional

import torch

from ..evaluation.calibration import check_calibration, decide, unknown_rule


def _calibrated_predictions(head: torch.nn.Module):
    original = type(head)._get_predictions.__get__(head)

    def predictions(cls_score: torch.Tensor, data_samples) -> List:
        rule = unknown_rule(head._fruit_calibration)
        samples = original(cls_score / rule['temperature'], data_samples)
        decided = decide(cls_score.detach().float().cpu().numpy(), rule)
        for sample, score, unknown in zip(samples, decided['scores'],
                                          decided['unknown']):
            sample.set_field(bool(unknown), 'unknown', field_type='metainfo')
            sample.set_field(float(score), 'ood_score',
                             field_type='metainfo')
            sample.set_field(rule['threshold'], 'threshold',
                             field_type='metainfo')
        return samples

    return predictions


def attach_calibration(model: torch.nn.Module, calibration: Optional[dict],
                       source: str = 'checkpoint') -> None:
    """Make ``model`` apply ``calibration`` (None removes an earlier one).

    Args:
        model: An mmpretrain classifier.
        calibration: ``meta['calibration']`` of the loaded checkpoint.
        source: The checkpoint file, for error messages.

    Raises:
        ValueError: A malformed calibration (named with ``source``).
    """
    calibration = check_calibration(calibration, source)
    model._calibration = calibration
    head = getattr(model, 'head', None)
    if head is None or not hasattr(type(head), '_get_predictions'):
        return
    head.__dict__.pop('_get_predictions', None)
    head._fruit_calibration = calibration
    if calibration is not None:
        head._get_predictions = _calibrated_predictions(head)
