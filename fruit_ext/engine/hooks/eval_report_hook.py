"""Write an evaluation report after each validation and on test."""
import json
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.dist import collect_results, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from PIL import Image

from ...evaluation import macro_average, per_class_metrics, write_eval_report

BEST_INFO_KEY = 'eval_report_best'
CALIBRATION_INFO_KEY = 'calibration'  # set by CalibrationHook


@HOOKS.register_module()
class EvalReportHook(Hook):
    """Per-class CSV, confusion matrix, worst mistakes (with Grad-CAM heat
    maps) and reliability diagram of every evaluation.

    After each validation the report is written to
    ``{work_dir}/{out_dir}/last/``; when the watched metric improves it is
    copied to ``{work_dir}/{out_dir}/best/`` (with ``metrics.json`` naming
    the epoch), so the best epoch's report is kept. ``mim test`` writes
    ``{work_dir}/{out_dir}/test/``. With :class:`CalibrationHook` before it,
    the reliability diagram and ``calibration.json`` give the ECE (15 bins)
    before and after temperature scaling. The PNGs go to the visualizer's
    backends (Local, TensorBoard, ...) and the macro-averaged precision,
    recall and F1 to the log (``val/macro_recall``, ...). Class names are
    drawn in Chinese when a CJK font is installed (Debian:
    ``fonts-wqy-microhei``), else as English aliases.

    Args:
        out_dir: Folder under the work dir.
        best_metric: Metric that decides the best epoch; 'auto' uses the
            first metric of the evaluator, as ``CheckpointHook`` does.
        rule: 'greater' or 'less': which direction is better.
        num_mistakes: Most confident mistakes in the grid.
        cam: Paint the Grad-CAM heat map of the predicted class on each
            mistake (one forward and backward pass per mistake shown).
    """

    priority = 'NORMAL'

    def __init__(self,
                 out_dir: str = 'eval_report',
                 best_metric: str = 'auto',
                 rule: str = 'greater',
                 num_mistakes: int = 16,
                 cam: bool = True):
        if rule not in ('greater', 'less'):
            raise ValueError(
                f"EvalReportHook: rule must be 'greater' or 'less', got "
                f'{rule!r}.')
        self.out_dir = out_dir
        self.best_metric = best_metric
        self.rule = rule
        self.num_mistakes = num_mistakes
        self.cam = cam
        self._results: List[Tuple[np.ndarray, int, str]] = []
        # training progress when the last train epoch / iteration ended;
        # read here rather than through runner.epoch, which would build a
        # train loop (and need training data) in a val- or test-only run
        self._epoch = 0
        self._iter = 0

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Count finished training iterations.

        Args:
            runner: The mmengine Runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: The batch.
            outputs: The losses.
        """
        self._iter = runner.iter + 1

    def after_train_epoch(self, runner) -> None:
        """Count finished training epochs.

        Args:
            runner: The mmengine Runner.
        """
        self._epoch = runner.epoch + 1

    def _reset(self, runner) -> None:
        self._results = []

    before_val_epoch = _reset
    before_test_epoch = _reset

    def _collect(self,
                 runner,
                 batch_idx: int,
                 data_batch: Optional[dict] = None,
                 outputs: Optional[Sequence] = None) -> None:
        for sample in outputs or ():
            self._results.append(
                (sample.pred_score.detach().cpu().float().numpy(),
                 int(sample.gt_label[0]), sample.get('img_path', '')))

    after_val_iter = _collect
    after_test_iter = _collect

    def _write(self, runner, dataset, mode: str, folder: str,
               step: int) -> Optional[Dict[str, float]]:
        results = collect_results(self._results, len(dataset), device='cpu')
        self._results = []
        if not is_main_process():
            return None
        scores, labels, paths = zip(*results)
        scores, labels = np.stack(scores), np.array(labels)
        out_dir = osp.join(runner.work_dir, self.out_dir, folder)
        classes = dataset.metainfo['classes']
        calibration = runner.message_hub.get_info(CALIBRATION_INFO_KEY)
        written = write_eval_report(
            scores, labels, list(paths), classes, out_dir,
            aliases=dataset.metainfo.get('aliases'),
            num_mistakes=self.num_mistakes,
            temperature=calibration['temperature'] if calibration else None,
            cam=self._cam_function(runner, mode) if self.cam else None)
        macro = macro_average(
            per_class_metrics(scores.argmax(axis=1), labels, len(classes)))
        summary = {
            f'macro_{name}': macro[name]
            for name in ('precision', 'recall', 'f1')
        }
        for name, value in summary.items():
            runner.message_hub.update_scalar(f'{mode}/{name}', value)
        for key in ('confusion_matrix', 'mistakes', 'reliability'):
            image = np.asarray(Image.open(written[key]).convert('RGB'))
            runner.visualizer.add_image(f'{mode}_{key}', image, step=step)
        runner.logger.info(f'EvalReportHook: {mode} report written to '
                           f'{out_dir}')
        return summary

    @staticmethod
    def _cam_function(runner, mode: str):
        """Grad-CAM of the runner's model through this loop's pipeline."""
        from ...visualization.cam import grad_cam_overlay
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        pipeline = runner.cfg[f'{mode}_dataloader'].dataset.pipeline
        config = Config(dict(test_dataloader=dict(dataset=dict(
            pipeline=pipeline))))
        return lambda image, label: grad_cam_overlay(
            model, image, target_label=label, config=config)

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Write ``last/`` and, on a new best, copy it to ``best/``.

        Args:
            runner: The mmengine Runner.
            metrics: The evaluator's metrics.
        """
        by_epoch = getattr(runner.log_processor, 'by_epoch', True)
        step = self._epoch if by_epoch else self._iter
        summary = self._write(runner, runner.val_dataloader.dataset, 'val',
                              'last', step)
        if summary is None or not metrics:
            return
        key = next(iter(metrics)) if self.best_metric == 'auto' \
            else self.best_metric
        if key not in metrics:
            raise KeyError(f'EvalReportHook: best_metric {key!r} is not '
                           f'among the metrics {list(metrics)}.')
        score = float(metrics[key])
        best = runner.message_hub.get_info(BEST_INFO_KEY)
        if best is not None and not (score > best['score'] if self.rule ==
                                     'greater' else score < best['score']):
            return
        root = osp.join(runner.work_dir, self.out_dir)
        shutil.rmtree(osp.join(root, 'best'), ignore_errors=True)
        shutil.copytree(osp.join(root, 'last'), osp.join(root, 'best'))
        record = dict(metric=key, score=score, epoch=self._epoch,
                      iter=self._iter)
        with open(osp.join(root, 'best', 'metrics.json'), 'w') as file:
            json.dump(dict(record, **summary, metrics={
                name: float(value) for name, value in metrics.items()
                if np.isscalar(value)}), file, indent=2)
        runner.message_hub.update_info(BEST_INFO_KEY, record)
        runner.logger.info(f'EvalReportHook: new best {key} {score:.4g} at '
                           f'{"epoch" if by_epoch else "iter"} {step}; '
                           'report kept in ' + osp.join(root, 'best'))

    def _after_epoch(self, runner, mode: str = 'train') -> None:
        """Write the test report to ``test/``.

        mmengine calls this after every epoch of each mode (its per-mode
        idiom); val has ``after_val_epoch``, which gets the metrics.

        Args:
            runner: The mmengine Runner.
            mode: 'train', 'val' or 'test'.
        """
        if mode == 'test':
            self._write(runner, runner.test_dataloader.dataset, 'test',
                        'test', self._epoch)
