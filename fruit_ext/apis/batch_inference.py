"""Predict many image files in batches, skipping the ones that cannot be read.

Built on mmpretrain's :class:`ImageClassificationInferencer` (model, class
names) and the config's test pipeline, so results equal those of
validation. A calibration stored with the checkpoint (temperature, "unknown"
threshold; :mod:`fruit_ext.evaluation.calibration`) is applied to the
logits; test-time augmentation averages the logits of the image and its
mirror image.
"""
import csv
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from mmcv.transforms import Compose
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from mmpretrain.apis import ImageClassificationInferencer
from mmpretrain.registry import TRANSFORMS
from rich.progress import Progress

from ..evaluation.calibration import decide, unknown_rule
from .checked_loading import build_model, load_checked
from .image_inputs import Problem
from .work_dir import resolve_model_files

UNKNOWN = 'unknown'


@dataclass
class Prediction:
    """The answer for one image.

    The best guess (``pred_label``, ``pred_class``, ``pred_score``) is kept
    when the answer is :data:`UNKNOWN`.

    Args:
        path: Image file.
        topk: ``(label, class name, score)``, best first (calibrated).
        threshold: ``score`` below this makes the answer :data:`UNKNOWN`.
        aliases: English class aliases by label, if the model has them.
        score: The "unknown" score compared with ``threshold``; the best
            score when None.
        score_kind: 'msp' (best calibrated probability) or 'energy'.
        temperature: The temperature the logits were divided by.
        scores: All calibrated class probabilities, by label.
    """
    path: str
    topk: List[Tuple[int, str, float]]
    threshold: float = 0.0
    aliases: Optional[Sequence[str]] = field(default=None, repr=False)
    score: Optional[float] = None
    score_kind: str = 'msp'
    temperature: float = 1.0
    scores: Optional[List[float]] = field(default=None, repr=False)

    @property
    def unknown(self) -> bool:
        """Whether the "unknown" score is below the threshold."""
        score = self.topk[0][2] if self.score is None else self.score
        return score < self.threshold

    @property
    def pred_label(self) -> int:
        """Best class index (also when unknown)."""
        return self.topk[0][0]

    @property
    def pred_class(self) -> str:
        """Best class name (also when unknown)."""
        return self.topk[0][1]

    @property
    def pred_score(self) -> float:
        """Score of the best class."""
        return self.topk[0][2]

    def alias(self, label: int) -> str:
        """English alias of a class ('' when the model has none)."""
        if label < 0 or not self.aliases:
            return UNKNOWN if label < 0 else ''
        return self.aliases[label]

    def to_dict(self) -> Dict:
        """A JSON-ready summary (``pred_scores``: all classes, by label)."""
        return dict(
            path=self.path,
            pred_label=self.pred_label,
            pred_class=self.pred_class,
            pred_alias=self.alias(self.pred_label),
            pred_score=round(self.pred_score, 6),
            unknown=self.unknown,
            threshold=round(self.threshold, 6),
            score=round(self.pred_score if self.score is None
                        else self.score, 6),
            score_kind=self.score_kind,
            temperature=self.temperature,
            topk=[dict(label=label, **{'class': name},
                       alias=self.alias(label), score=round(score, 6))
                  for label, name, score in self.topk],
            pred_scores=None if self.scores is None else
            [round(score, 6) for score in self.scores])


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class BatchInferencer:
    """Top-k predictions for lists of image files.

    Args:
        model: Config path, model name from the model index, a training
            work dir, or a built model.
        checkpoint: Checkpoint to load, ``.pth`` or ``.safetensors`` (its
            metadata gives the class names); optional for a work dir. It is
            refused (:class:`CheckpointMismatchError`) unless it fits.
        device: Device, e.g. 'cpu' or 'cuda:0'.
        batch_size: Images per forward pass.

    Attributes:
        calibration: The checkpoint's ``meta['calibration']``, or None.
    """

    def __init__(self,
                 model: Union[str, torch.nn.Module],
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 batch_size: int = 32) -> None:
        source = checkpoint or model
        if isinstance(model, str):
            model, checkpoint = resolve_model_files(model, checkpoint)
            model = build_model(model, checkpoint, device=device)
        elif checkpoint:
            load_checked(model, getattr(model, '_config', None), checkpoint)
        self.inferencer = ImageClassificationInferencer(
            model, pretrained=False, device=device)
        meta = getattr(self.inferencer.model, '_dataset_meta', None) or {}
        if not self.inferencer.classes:
            raise ValueError(
                f'{source}: no class names in the checkpoint '
                'metadata or the config\'s dataset.')
        self.classes: List[str] = list(self.inferencer.classes)
        self.aliases: Optional[List[str]] = list(
            meta['aliases']) if meta.get('aliases') else None
        self.batch_size = batch_size
        self.calibration: Optional[dict] = getattr(
            self.inferencer.model, '_calibration', None)
        # The config's whole test pipeline, loader included, so results are
        # those of validation (mmpretrain's inferencer decodes images itself).
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self.pipeline = Compose([
                TRANSFORMS.build(t) for t in
                self.inferencer.config.test_dataloader.dataset.pipeline
            ])

    def _prepare(self, path: str) -> dict:
        try:
            sample = self.pipeline(dict(img_path=path))
        except Exception as error:  # loaders raise many types on bad files
            reason = getattr(error, 'reason', None) or str(error).replace(
                path, '').strip(' :\n') or type(error).__name__
            raise ValueError(f'not a readable image ({reason})') from None
        if sample is None:
            raise ValueError('not a readable image')
        return sample

    def logits(self, samples: List[dict], tta: bool = False) -> torch.Tensor:
        """Raw class scores of samples from the test pipeline.

        Args:
            samples: Outputs of the config's test pipeline.
            tta: Average with the logits of the mirror image (the network
                input flipped left-right).

        Returns:
            (N, C) float logits on the CPU.
        """
        model = self.inferencer.model
        with torch.no_grad():
            inputs = model.data_preprocessor(default_collate(samples),
                                             False)['inputs']
            logits = model(inputs, mode='tensor')
            if tta:
                logits = (logits + model(inputs.flip(3), mode='tensor')) / 2
        return logits.float().cpu()

    def predict(self,
                paths: Sequence[str],
                topk: int = 5,
                threshold: Optional[float] = None,
                progress: bool = True,
                accept: Optional[float] = None,
                tta: bool = False
                ) -> Tuple[List[Prediction], List[Problem]]:
        """Predict every readable file.

        Args:
            paths: Image files.
            topk: Classes to keep per image.
            threshold: Best calibrated probability below which the answer
                is :data:`UNKNOWN`; overrides the stored calibration's.
            progress: Show a progress bar.
            accept: Use the stored threshold for this share of accepted
                in-class val images instead (0.7 to 1).
            tta: Average the logits with those of the mirror image.

        Returns:
            (predictions in input order, ``(path, reason)`` of skipped files).
        """
        rule = unknown_rule(self.calibration, threshold, accept)
        topk = max(1, min(topk, len(self.classes)))
        predictions: List[Prediction] = []
        skipped: List[Problem] = []
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task('Predicting', total=len(paths))
            for chunk in _chunks(paths, self.batch_size):
                ready, samples = [], []
                for path in chunk:
                    try:
                        samples.append(self._prepare(path))
                        ready.append(path)
                    except ValueError as error:
                        skipped.append((path, str(error)))
                if samples:
                    decided = decide(self.logits(samples, tta).numpy(), rule)
                    for i, path in enumerate(ready):
                        predictions.append(self._prediction(
                            path, decided['probs'][i],
                            float(decided['scores'][i]), topk, rule))
                bar.advance(task, len(chunk))
        return predictions, skipped

    def _prediction(self, path: str, probs, score: float, topk: int,
                    rule: dict) -> Prediction:
        values, labels = torch.from_numpy(probs).topk(topk)
        return Prediction(
            path=path,
            topk=[(int(label), self.classes[label], float(value))
                  for value, label in zip(values, labels)],
            threshold=rule['threshold'], aliases=self.aliases, score=score,
            score_kind=rule['score'], temperature=rule['temperature'],
            scores=[float(p) for p in probs])


def write_predictions(predictions: Sequence[Prediction],
                      skipped: Sequence[Problem], out_file: str) -> None:
    """Write predictions as CSV (one row per image) or JSON.

    Args:
        predictions: From :meth:`BatchInferencer.predict`.
        skipped: Files that could not be read; JSON lists them, CSV leaves
            them out.
        out_file: ``*.csv`` or ``*.json``.

    Raises:
        ValueError: Any other extension.
    """
    extension = osp.splitext(out_file)[1].lower()
    if extension not in ('.csv', '.json'):
        raise ValueError(f'--out {out_file}: use a .csv or .json file name')
    rows = [prediction.to_dict() for prediction in predictions]
    if extension == '.json':
        with open(out_file, 'w', encoding='utf-8') as file:
            json.dump(dict(predictions=rows,
                           skipped=[dict(path=path, error=reason)
                                    for path, reason in skipped]),
                      file, ensure_ascii=False, indent=1)
        return
    k = max((len(row['topk']) for row in rows), default=1)
    header = ['path', 'pred_label', 'pred_class', 'pred_alias', 'pred_score',
              'unknown']
    for i in range(1, k + 1):
        header += [f'top{i}_class', f'top{i}_score']
    # utf-8-sig: spreadsheet programs then read the Chinese names correctly
    with open(out_file, 'w', newline='', encoding='utf-8-sig') as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            line = [row[key] for key in header[:6]]
            for entry in row['topk']:
                line += [entry['class'], entry['score']]
            writer.writerow(line)

