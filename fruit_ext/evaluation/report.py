"""Per-class evaluation report: a CSV, a confusion matrix, worst mistakes
(with Grad-CAM heat maps when a ``cam`` function is given) and a reliability
diagram with the ECE before/after temperature scaling.

Used by :class:`fruit_ext.engine.hooks.EvalReportHook` after each validation
and by ``tools/analysis/eval_report.py`` on saved predictions. Class names are
drawn with :func:`fruit_ext.visualization.display_labels`: Chinese names with
a CJK font when one is installed, English aliases otherwise.
"""
import csv
import json
import math
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmpretrain.evaluation import ConfusionMatrix, SingleLabelMetric
from PIL import Image

from ..apis.image_core import BrokenImageError, load_rgb
from ..datasets.categories import alias_for
from ..visualization import agg_figure, display_labels
from .reliability import RELIABILITY_NAME, draw_reliability

CSV_NAME = 'per_class.csv'
CONFUSION_NAME = 'confusion_matrix.png'
MISTAKES_NAME = 'worst_mistakes.png'
CALIBRATION_NAME = 'calibration.json'
#: ``cam(image_rgb, label) -> overlay``: the heat map of a class on a picture
CamFunction = Callable[[np.ndarray, int], np.ndarray]


def _check_inputs(pred_scores: np.ndarray, gt_labels: np.ndarray,
                  img_paths: Sequence[str], classes: Sequence[str],
                  aliases: Optional[Sequence[str]]) -> None:
    if pred_scores.ndim != 2 or pred_scores.shape[1] != len(classes):
        raise ValueError(
            f'write_eval_report: pred_scores must have shape (N, '
            f'{len(classes)}) for {len(classes)} classes, got '
            f'{pred_scores.shape}.')
    if gt_labels.shape != (pred_scores.shape[0], ):
        raise ValueError(
            f'write_eval_report: gt_labels must have shape '
            f'({pred_scores.shape[0]},) to match pred_scores, got '
            f'{gt_labels.shape}.')
    if len(img_paths) != pred_scores.shape[0]:
        raise ValueError(
            f'write_eval_report: {len(img_paths)} img_paths for '
            f'{pred_scores.shape[0]} predictions.')
    if gt_labels.size and (gt_labels.min() < 0
                           or gt_labels.max() >= len(classes)):
        raise ValueError(
            f'write_eval_report: gt_labels must lie in [0, {len(classes)}), '
            f'got values from {gt_labels.min()} to {gt_labels.max()}.')
    if aliases is not None and len(aliases) != len(classes):
        raise ValueError(
            f'write_eval_report: {len(aliases)} aliases for {len(classes)} '
            'classes.')


def per_class_metrics(pred_labels: np.ndarray, gt_labels: np.ndarray,
                      num_classes: int) -> Dict[str, np.ndarray]:
    """Confusion matrix and per-class metrics, from mmpretrain's metrics.

    The matrix is :meth:`mmpretrain.evaluation.ConfusionMatrix.calculate`;
    precision, recall and F1 are
    :meth:`mmpretrain.evaluation.SingleLabelMetric.calculate` with
    ``average=None``: a class never predicted (or never present) gets 0, as
    in ``sklearn.metrics.precision_recall_fscore_support(zero_division=0)``.

    Args:
        pred_labels: (N,) predicted class indices.
        gt_labels: (N,) true class indices.
        num_classes: C.

    Returns:
        Dict with 'confusion_matrix' ((C, C) int64 counts, rows true classes,
        columns predicted classes), 'precision', 'recall', 'f1' ((C,)
        percent) and 'support' ((C,) true images per class).
    """
    pred = torch.from_numpy(np.asarray(pred_labels, dtype=np.int64))
    target = torch.from_numpy(np.asarray(gt_labels, dtype=np.int64))
    matrix = ConfusionMatrix.calculate(pred, target, num_classes=num_classes)
    precision, recall, f1, support = SingleLabelMetric.calculate(
        pred, target, average=None, num_classes=num_classes)
    return dict(confusion_matrix=matrix.numpy().astype(np.int64),
                precision=precision.numpy(), recall=recall.numpy(),
                f1=f1.numpy(), support=support.numpy())


def macro_average(metrics: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Precision, recall and F1 averaged over the classes present.

    Unlike ``SingleLabelMetric(average='macro')``, classes with no true image
    are left out, so a validation split without some class is not penalised.

    Args:
        metrics: The output of :func:`per_class_metrics`.

    Returns:
        Dict with 'precision', 'recall', 'f1' (percent) and 'support' (all
        true images).
    """
    present = metrics['support'] > 0
    macro = {name: float(metrics[name][present].mean())
             for name in ('precision', 'recall', 'f1')}
    macro['support'] = int(metrics['support'].sum())
    return macro


def _write_csv(path: str, classes: Sequence[str], aliases: Sequence[str],
               metrics: Dict[str, np.ndarray]) -> None:
    names = ('precision', 'recall', 'f1')
    with open(path, 'w', newline='', encoding='utf-8') as file:
        writer = csv.writer(file)
        writer.writerow(['class', 'alias', *names, 'support'])
        for index, name in enumerate(classes):
            writer.writerow([
                name, aliases[index],
                *(f'{metrics[key][index]:.2f}' for key in names),
                int(metrics['support'][index])
            ])
        macro = macro_average(metrics)
        writer.writerow(['macro avg', 'macro avg',
                         *(f'{macro[key]:.2f}' for key in names),
                         macro['support']])


def _save(figure, path: str) -> None:
    figure.savefig(path, dpi=100)


def _draw_confusion(path: str, matrix: np.ndarray, labels: List[str],
                    font) -> None:
    num = len(labels)
    side = max(4.0, 0.32 * num + 2.5)
    figure = agg_figure(figsize=(side + 1, side), layout='constrained')
    axes = figure.add_subplot()
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros(matrix.shape),
                           where=rows > 0)
    image = axes.imshow(normalised, cmap='Blues', vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, label='share of true class')
    ticks = np.arange(num)
    axes.set_xticks(ticks, labels, rotation=90, fontproperties=font,
                    fontsize=8)
    axes.set_yticks(ticks, labels, fontproperties=font, fontsize=8)
    axes.set_xlabel('predicted')
    axes.set_ylabel('true')
    if num <= 30:
        for (row, col), count in np.ndenumerate(matrix):
            if count:
                axes.text(col, row, str(count), ha='center', va='center',
                          fontsize=6, color='white'
                          if normalised[row, col] > 0.5 else 'black')
    axes.set_title(f'Confusion matrix ({int(matrix.sum())} images, '
                   f'{np.trace(matrix) / max(matrix.sum(), 1):.1%} correct)')
    _save(figure, path)


def _load_thumbnail(path: str, size: int = 160,
                    cam: Optional[CamFunction] = None,
                    label: int = 0) -> np.ndarray:
    # decoded as the model saw it (upright, alpha on white, 16-bit scaled)
    try:
        pixels = load_rgb(path, min_size=256 if cam else size)
    except BrokenImageError as error:
        raise ValueError(f'write_eval_report: cannot read image {path}: '
                         f'{error.reason}') from error
    image = Image.fromarray(cam(pixels, label) if cam else pixels)
    image.thumbnail((size, size))
    return np.asarray(image)


def _draw_mistakes(path: str, pred_scores: np.ndarray, gt_labels: np.ndarray,
                   img_paths: Sequence[str], labels: List[str], font,
                   num_mistakes: int, cam: Optional[CamFunction]) -> None:
    pred_labels = pred_scores.argmax(axis=1)
    wrong = np.flatnonzero(pred_labels != gt_labels)
    confidence = pred_scores[wrong, pred_labels[wrong]]
    worst = wrong[np.argsort(-confidence, kind='stable')][:num_mistakes]
    cols = min(4, max(len(worst), 1))
    rows = max(math.ceil(len(worst) / cols), 1)
    figure = agg_figure(figsize=(3 * cols, 3.3 * rows), layout='constrained')
    if not len(worst):
        axes = figure.add_subplot()
        axes.axis('off')
        axes.text(0.5, 0.5, 'No mistakes', ha='center', va='center',
                  fontsize=16)
    for slot, index in enumerate(worst):
        axes = figure.add_subplot(rows, cols, slot + 1)
        pred = pred_labels[index]
        axes.imshow(_load_thumbnail(img_paths[index], cam=cam, label=pred))
        axes.axis('off')
        axes.set_title(
            f'true: {labels[gt_labels[index]]} \u2192\n'
            f'pred: {labels[pred]} ({pred_scores[index, pred]:.2f})',
            fontproperties=font, fontsize=10, color='firebrick')
    figure.suptitle(f'Worst mistakes: {len(worst)} of {len(wrong)} wrong, '
                    'most confident first' + (
                        '; heat map: where the model saw the predicted class'
                        ' (Grad-CAM)' if cam else ''))
    _save(figure, path)


def write_eval_report(pred_scores: np.ndarray,
                      gt_labels: np.ndarray,
                      img_paths: Sequence[str],
                      classes: Sequence[str],
                      out_dir: str,
                      aliases: Optional[Sequence[str]] = None,
                      num_mistakes: int = 16,
                      temperature: Optional[float] = None,
                      cam: Optional[CamFunction] = None) -> Dict[str, str]:
    """Write the per-class CSV, confusion matrix, mistakes and reliability.

    Args:
        pred_scores: (N, C) class probabilities (or any scores; the arg-max is
            the prediction and the score of the predicted class ranks the
            mistakes).
        gt_labels: (N,) true class indices.
        img_paths: N image files, shown in the mistakes grid.
        classes: C class names (Chinese names are drawn with a CJK font when
            one is installed, else replaced by ``aliases``).
        out_dir: Folder to write into (created if missing).
        aliases: C English names; looked up with
            :func:`fruit_ext.datasets.alias_for` when None.
        num_mistakes: Most confident wrong predictions to show.
        temperature: Fitted temperature: the reliability diagram and
            ``calibration.json`` then also show the ECE after scaling.
        cam: Paints a class's heat map on a picture
            (:func:`fruit_ext.visualization.cam.grad_cam_overlay` bound to
            the model); the mistakes then show it for the predicted class.

    Returns:
        Paths written: keys 'csv', 'confusion_matrix', 'mistakes',
        'reliability' and 'calibration' (ECE before/after, 15 bins, as
        fractions, and the temperature).

    Raises:
        ValueError: Inconsistent shapes or labels, or an unreadable image
            (named in the message).
    """
    pred_scores = np.asarray(pred_scores, dtype=np.float64)
    gt_labels = np.asarray(gt_labels).astype(np.int64)
    _check_inputs(pred_scores, gt_labels, img_paths, classes, aliases)
    labels, font = display_labels(classes, aliases)
    if aliases is None:
        aliases = [alias_for(name) for name in classes]
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(csv=osp.join(out_dir, CSV_NAME),
                 confusion_matrix=osp.join(out_dir, CONFUSION_NAME),
                 mistakes=osp.join(out_dir, MISTAKES_NAME),
                 reliability=osp.join(out_dir, RELIABILITY_NAME),
                 calibration=osp.join(out_dir, CALIBRATION_NAME))
    metrics = per_class_metrics(pred_scores.argmax(axis=1), gt_labels,
                                len(classes))
    _write_csv(paths['csv'], classes, aliases, metrics)
    _draw_confusion(paths['confusion_matrix'], metrics['confusion_matrix'],
                    labels, font)
    _draw_mistakes(paths['mistakes'], pred_scores, gt_labels, img_paths,
                   labels, font, num_mistakes, cam)
    errors = draw_reliability(paths['reliability'], pred_scores, gt_labels,
                              temperature)
    with open(paths['calibration'], 'w', encoding='utf-8') as file:
        json.dump(dict(errors, temperature=temperature, bins=15), file,
                  indent=1)
    return paths
