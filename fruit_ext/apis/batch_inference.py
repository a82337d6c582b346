"""Predict many image files in batches, skipping the ones that cannot be read.

Built on mmpretrain's :class:`ImageClassificationInferencer` (model, class
names, forward) and the config's test pipeline, so results equal those of
validation.
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

from .checked_loading import build_model, load_checked
from .image_inputs import Problem
from .work_dir import resolve_model_files

UNKNOWN = 'unknown'


@dataclass
class Prediction:
    """The answer for one image.

    Args:
        path: Image file.
        topk: ``(label, class name, score)``, best first.
        threshold: Scores of the best class below this make the answer
            :data:`UNKNOWN`.
        aliases: English class aliases by label, if the model has them.
    """
    path: str
    topk: List[Tuple[int, str, float]]
    threshold: float = 0.0
    aliases: Optional[Sequence[str]] = field(default=None, repr=False)

    @property
    def unknown(self) -> bool:
        """Whether the best score is below the threshold."""
        return self.topk[0][2] < self.threshold

    @property
    def pred_label(self) -> int:
        """Best class index, -1 when unknown."""
        return -1 if self.unknown else self.topk[0][0]

    @property
    def pred_class(self) -> str:
        """Best class name, or :data:`UNKNOWN`."""
        return UNKNOWN if self.unknown else self.topk[0][1]

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
        """A JSON-ready summary."""
        return dict(
            path=self.path,
            pred_label=self.pred_label,
            pred_class=self.pred_class,
            pred_alias=self.alias(self.pred_label),
            pred_score=round(self.pred_score, 6),
            unknown=self.unknown,
            topk=[dict(label=label, **{'class': name},
                       alias=self.alias(label), score=round(score, 6))
                  for label, name, score in self.topk])


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

    def predict(self,
                paths: Sequence[str],
                topk: int = 5,
                threshold: float = 0.0,
                progress: bool = True
                ) -> Tuple[List[Prediction], List[Problem]]:
        """Predict every readable file.

        Args:
            paths: Image files.
            topk: Classes to keep per image.
            threshold: Best scores below this give :data:`UNKNOWN`.
            progress: Show a progress bar.

        Returns:
            (predictions in input order, ``(path, reason)`` of skipped files).
        """
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
                    outputs = self.inferencer.forward(default_collate(samples))
                    for path, output in zip(ready, outputs):
                        predictions.append(
                            self._prediction(path, output.pred_score, topk,
                                             threshold))
                bar.advance(task, len(chunk))
        return predictions, skipped

    def _prediction(self, path: str, scores: torch.Tensor, topk: int,
                    threshold: float) -> Prediction:
        values, labels = scores.float().cpu().topk(topk)
        return Prediction(
            path=path,
            topk=[(int(label), self.classes[label], float(value))
                  for value, label in zip(values, labels)],
            threshold=threshold,
            aliases=self.aliases)


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

