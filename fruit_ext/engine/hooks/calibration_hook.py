"""Fit temperature scaling and the "unknown" threshold on val."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import collect_results, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from ...compat.checkpoint import safe_torch_load
from ...compat.safetensors_format import is_safetensors, read_safetensors
from ...evaluation.calibration import (DEFAULT_SCORE, check_calibration,
                                       decide, ece, fit_calibration, softmax,
                                       unknown_rule)
from ..logits import collect_logits

#: message-hub info key: the calibration in use (read by EvalReportHook)
INFO_KEY = 'calibration'


def _stored_calibration(path: Optional[str]) -> Optional[Dict]:
    """``meta['calibration']`` of a local checkpoint, if any."""
    if not path or '://' in str(path) or not osp.isfile(path):
        return None
    loaded = read_safetensors(path) if is_safetensors(path) else \
        safe_torch_load(path, map_location='cpu')
    meta = loaded.get('meta') or {} if isinstance(loaded, dict) else {}
    return check_calibration(meta.get('calibration'), path)


@HOOKS.register_module()
class CalibrationHook(Hook):
    """Temperature scaling (Guo et al. 2017) and an "unknown" threshold.

    After each validation the temperature is fitted on the val logits, with
    the threshold of ``score`` that accepts ``accept`` of the val images
    (:func:`fruit_ext.evaluation.calibration.fit_calibration`); it is
    stored as ``meta['calibration']`` in the checkpoints of those weights
    (``best.pth`` and the epoch checkpoint saved just before), where
    ``init_model``, ``BatchInferencer``, ``tools/infer.py``, publishing and
    ONNX export find it. On ``mim test`` the checkpoint's calibration is used
    (fitted on the val split first when it has none; the checkpoint file is
    left as it is, ``calibration.json`` goes to the work dir) and the test
    ECE before/after is logged (``test/ece_before``, ``test/ece_after``).

    Args:
        score: 'energy' (``T * logsumexp(logits / T)``, the default: it
            measured better for images far from every class) or 'msp' (the
            best calibrated probability).
        accept: Share of in-class val images the threshold accepts.
    """

    priority = 'ABOVE_NORMAL'  # before EvalReportHook and CheckpointHook

    def __init__(self, score: str = DEFAULT_SCORE,
                 accept: float = 0.95) -> None:
        fit_calibration(np.eye(2), np.arange(2), score, accept)  # checks
        self.score = score
        self.accept = accept
        self.calibration: Optional[Dict] = None
        self._fitted_iter = -1
        self._logits: List[torch.Tensor] = []
        self._results: List = []
        self._handle = None

    # ---- logits of the head, captured during the val / test loops ----
    def _start(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        self._results, self._logits = [], []
        self._handle = model.head.register_forward_hook(
            lambda module, args, output: self._logits.append(
                output.detach().float().cpu()))

    before_val_epoch = _start
    before_test_epoch = _start

    def _collect(self, runner, batch_idx: int, data_batch=None,
                 outputs: Optional[Sequence] = None) -> None:
        logits = torch.cat(self._logits) if self._logits else None
        self._logits = []
        if logits is None or len(logits) != len(outputs or ()):
            return  # not one head call per batch: nothing reliable
        self._results += [(row.numpy(), int(sample.gt_label[0]))
                          for row, sample in zip(logits, outputs)]

    after_val_iter = _collect
    after_test_iter = _collect

    def _finish(self, runner, dataset) -> Optional[tuple]:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        results = collect_results(self._results, len(dataset), device='cpu')
        self._results = []
        if not is_main_process() or not results or \
                len(results) != len(dataset):
            return None
        logits, labels = zip(*results)
        return np.stack(logits).astype(np.float64), np.array(labels)

    def _after_epoch(self, runner, mode: str = 'train') -> None:
        """After a validation: fit; after a test: log with the checkpoint's
        calibration (mmengine calls this after every epoch of each mode).

        Args:
            runner: The mmengine Runner.
            mode: 'train', 'val' or 'test'.
        """
        if mode == 'train':
            return
        loader = runner.val_dataloader if mode == 'val' else \
            runner.test_dataloader
        found = self._finish(runner, loader.dataset)
        if found is not None:
            (self._fit if mode == 'val' else self._test)(runner, *found)

    # ---- validation: fit, keep for the checkpoints of these weights ----
    def _fit(self, runner, logits: np.ndarray, labels: np.ndarray) -> None:
        self.calibration = fit_calibration(logits, labels, self.score,
                                           self.accept)
        self._fitted_iter = runner.iter
        runner.message_hub.update_info(INFO_KEY, self.calibration)
        self._log(runner, 'val', self.calibration)
        self._add_to_last_checkpoint(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the calibration fitted on these very weights.

        Args:
            runner: The mmengine Runner.
            checkpoint: The checkpoint being saved.
        """
        if self.calibration is not None and \
                self._fitted_iter == checkpoint.get('meta', {}).get('iter'):
            checkpoint['meta']['calibration'] = self.calibration

    def _add_to_last_checkpoint(self, runner) -> None:
        """The epoch checkpoint saved just before this validation: same
        weights, so it gets the calibration too (rewritten atomically)."""
        path = runner.message_hub.get_info('last_ckpt')
        if not path or not osp.isfile(path):
            return
        checkpoint = safe_torch_load(path, map_location='cpu')
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        if not meta or meta.get('iter') != self._fitted_iter or \
                meta.get('calibration') == self.calibration:
            return
        meta['calibration'] = self.calibration
        tmp = f'{path}.{os.getpid()}.tmp'
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)

    # ---- test: the checkpoint's calibration, else fitted on val ----
    def _test(self, runner, logits: np.ndarray, labels: np.ndarray) -> None:
        calibration = _stored_calibration(getattr(runner, '_load_from', None))
        if calibration is None and runner.cfg.get('val_dataloader'):
            calibration = fit_calibration(
                *collect_logits(runner.model, runner.build_dataloader(
                    runner.cfg.val_dataloader)), self.score, self.accept)
            with open(osp.join(runner.work_dir, 'calibration.json'),
                      'w') as file:
                json.dump(calibration, file, indent=1)
            runner.logger.info(
                'CalibrationHook: the checkpoint has no calibration; fitted '
                f'on val, written to {runner.work_dir}/calibration.json (to '
                'store it with the weights: tools/analysis/calibrate.py).')
        if calibration is None:
            return
        runner.message_hub.update_info(INFO_KEY, calibration)
        self._log(runner, 'test', calibration, logits, labels)

    def _log(self, runner, mode: str, calibration: Dict,
             logits: Optional[np.ndarray] = None,
             labels: Optional[np.ndarray] = None) -> None:
        text = ('CalibrationHook: temperature '
                f"{calibration['temperature']:.3f} (fitted on "
                f"{calibration['val_images']} val images); "
                f"'unknown' below {calibration['score']} "
                f"{calibration['threshold']:.4g} ({calibration['accept']:.0%} "
                'of val accepted)')
        before, after = calibration['ece_before'], calibration['ece_after']
        if logits is not None:
            before = ece(softmax(logits), labels)
            after = ece(softmax(logits, calibration['temperature']), labels)
            unknown = decide(logits, unknown_rule(calibration))['unknown']
            text += f'; {mode}: {unknown.mean():.1%} would be unknown'
        runner.message_hub.update_scalar(f'{mode}/ece_before', 100 * before)
        runner.message_hub.update_scalar(f'{mode}/ece_after', 100 * after)
        runner.logger.info(f'{text}; {mode} ECE {before:.2%} -> {after:.2%}')
