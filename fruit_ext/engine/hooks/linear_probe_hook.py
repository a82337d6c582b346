"""LP-FT: fit the head as a linear probe before fine-tuning everything."""
import copy
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_reduce, broadcast, broadcast_object_list, \
    get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch.nn.modules.batchnorm import _BatchNorm

from ..linear_probe import DEFAULT_WEIGHT_DECAYS
from ..probe_config import probe_model

META_KEY = 'linear_probe'
#: Checkpoint of a kept mix of the probe and the fine-tuned weights.
SELECTED_NAME = 'lpft_selected.pth'


def mix_states(stage1: Dict[str, torch.Tensor],
               tuned: Dict[str, torch.Tensor],
               alpha: float) -> Dict[str, torch.Tensor]:
    """``(1 - alpha) * stage1 + alpha * tuned`` for floating tensors.

    Alpha 0 and 1 give exact copies of one side; in between, integer
    buffers (BatchNorm's batch counters) come from ``tuned``.

    Args:
        stage1: State dict of the probe model.
        tuned: State dict of the fine-tuned model (same keys).
        alpha: Weight of the fine-tuned model, 0 to 1.

    Returns:
        The mixed state dict (new tensors).
    """
    if alpha in (0, 1):  # exact ends, even where one side is not finite
        end = tuned if alpha else stage1
        return {key: value.clone() for key, value in end.items()}
    return {key: torch.lerp(stage1[key], value, alpha)
            if value.is_floating_point() else value.clone()
            for key, value in tuned.items()}


@HOOKS.register_module()
class LinearProbeHook(Hook):
    """Stage 1 of LP-FT (Kumar et al., ICLR 2022): a converged probe head.

    Before the first training iteration the backbone runs once, in eval
    mode, over the training set (val pipeline; features cached in
    ``cache_dir``), the model's head is fitted to convergence on those
    features by L-BFGS with the head's own loss, its weight decay chosen on
    the val split (:func:`fruit_ext.engine.probe_model`), and loaded into
    the model. The Runner then fine-tunes everything with the configured
    optimizer and schedule. The probe's val top-1 is logged next to every
    validation's top-1 (``val/probe_top1``). With ``keep_better``, when
    training ends the model keeps the best on val of the probe (stage 1),
    the fine-tuned weights and their weight-space mixes (WiSE-FT,
    ``interpolations``); the log says which, and a kept probe or mix is
    saved as ``{work_dir}/lpft_selected.pth``; those weights are validated once more, so the
    calibration is fitted for them and the best checkpoint (``best.pth``)
    holds them when they beat every epoch on val.

    Runs after ``load_from``; a resumed run (iteration > 0) does not refit:
    the head is in the checkpoint, the probe's figures in its meta. Under
    DDP, rank 0 fits and broadcasts the head, so every rank holds the same.
    Compose with ``ClassCountsHook`` (higher priority: the class-balanced
    loss has its counts before the fit) and, if wanted,
    ``BackboneFreezeHook``.

    Args:
        weight_decays: L2 grid chosen from on val.
        max_iter: L-BFGS iterations per fit.
        cache_dir: Feature cache, relative to the work dir (or absolute);
            None keeps features in memory only.
        batch_size: Images per forward pass while extracting features.
        keep_better: Keep the best of probe, fine-tuned and mixed weights on
            val when training ends (else the fine-tuned ones).
        interpolations: Weights of the fine-tuned model in the mixes tried
            on val (0 and 1 are always compared); ``()`` compares only the
            probe and the fine-tuned model.
        save_stage1: Save ``linear_probe.pth`` after stage 1.
        norm_eval: Keep the backbone's BatchNorm layers in eval mode while
            fine-tuning (running statistics of the pretrained model, the
            ones the probe was fitted on).
    """

    priority = 'NORMAL'

    def __init__(self, weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
                 max_iter: int = 300, cache_dir: Optional[str] = 'probe_cache',
                 batch_size: int = 64, keep_better: bool = True,
                 interpolations: Sequence[float] = (0.25, 0.5, 0.75),
                 save_stage1: bool = True, norm_eval: bool = False):
        self.weight_decays = tuple(weight_decays)
        self.max_iter = max_iter
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.keep_better = keep_better
        if any(not 0 < a < 1 for a in interpolations):
            raise ValueError('LinearProbeHook: interpolations must lie '
                             f'strictly between 0 and 1, got {interpolations}')
        self.interpolations = tuple(sorted(set(interpolations)))
        self.save_stage1 = save_stage1
        self.norm_eval = norm_eval
        self.summary: Optional[dict] = None
        self.kept: Optional[str] = None  # probe, fine-tuned, interpolated
        self.alpha: Optional[float] = None  # weight of the fine-tuned model
        self.fitted = False
        self._loaded_meta: Optional[dict] = None
        self._stage1: Optional[Dict[str, torch.Tensor]] = None
        self.finetuned_val: Optional[float] = None  # last val in training
        self._training = False

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _fit(self, runner) -> None:
        """Rank 0 fits; the head and the summary go to every rank."""
        model = self._model(runner)
        summary = [None]
        if get_rank() == 0:
            cache = self.cache_dir and osp.join(runner.work_dir,
                                                self.cache_dir)
            result = probe_model(model, runner.cfg, cache, self.weight_decays,
                                 self.max_iter, self.batch_size,
                                 runner.logger)
            model.head.load_state_dict(result.head_state)
            summary = [dict(result.summary(), seconds=round(result.seconds,
                                                            2))]
        if get_world_size() > 1:
            for tensor in model.head.state_dict().values():
                broadcast(tensor, src=0)
            broadcast_object_list(summary, src=0)
        self.summary = summary[0]
        self.fitted = True

    def _log_fit(self, runner) -> None:
        grid = ', '.join(f'{k}: {v:.2f}'
                         for k, v in self.summary['val_by_decay'].items())
        val = self.summary['val_top1']
        runner.logger.info(
            f'LinearProbeHook: head fitted as a linear probe in '
            f"{self.summary['seconds']:.1f} s (weight decay "
            f"{self.summary['weight_decay']:g}, chosen on val: {grid}); "
            f"train top-1 {self.summary['train_top1']:.2f}, loss "
            f"{self.summary['train_loss']:.4f}; probe val top-1 "
            f"{'n/a' if val is None else f'{val:.2f}'}. Fine-tuning starts "
            'from it.')

    def before_train(self, runner) -> None:
        """Fit and load the probe head, unless resuming after stage 1.

        Args:
            runner: The mmengine Runner.
        """
        self._training = True
        if runner.iter > 0:
            self.summary = (self._loaded_meta or {}).get(META_KEY)
            val = (self.summary or {}).get('val_top1')
            runner.logger.info(
                f'LinearProbeHook: resumed at iteration {runner.iter}: the '
                'head comes from the checkpoint, no refit (probe val top-1 '
                f"{'unknown' if val is None else f'{val:.2f}'}).")
            return
        self._fit(runner)
        self._log_fit(runner)
        self._stage1 = {k: v.detach().clone() for k, v in
                        self._model(runner).state_dict().items()}
        if self.save_stage1:
            runner.save_checkpoint(runner.work_dir, 'linear_probe.pth',
                                   save_optimizer=False,
                                   save_param_scheduler=False)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """With ``norm_eval``, keep the backbone's BatchNorm in eval mode.

        Args:
            runner: The mmengine Runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: The batch.
        """
        if not self.norm_eval:
            return
        for module in self._model(runner).backbone.modules():
            if isinstance(module, _BatchNorm) and module.training:
                module.eval()

    def after_val_epoch(self, runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Put the probe's val top-1 next to this validation's.

        Args:
            runner: The mmengine Runner.
            metrics: This validation's metrics.
        """
        probe = (self.summary or {}).get('val_top1')
        if probe is None:
            return
        runner.message_hub.update_scalar('val/probe_top1', probe)
        top1 = (metrics or {}).get('accuracy/top1')
        if top1 is None or not self._training:
            return
        self.finetuned_val = float(top1)
        verdict = 'ahead of' if top1 > probe else 'NOT ahead of'
        runner.logger.info(
            f'LinearProbeHook: epoch {runner.epoch} val top-1 {top1:.2f} vs '
            f'linear probe {probe:.2f}: fine-tuning is {verdict} the probe '
            f'({top1 - probe:+.2f}).')

    def _val_top1(self, runner) -> float:
        """Top-1 (%) of the model as it is, on the val dataloader."""
        # not runner.val_loop: its hooks would save (and link as best.pth)
        # checkpoints of mixes that are then dropped
        model = runner.model
        model.eval()
        counts = torch.zeros(2, dtype=torch.float64)
        with torch.no_grad():
            for batch in runner.val_dataloader:
                for sample in model.val_step(batch):
                    counts[0] += float(sample.pred_label.view(-1)[0]
                                       == sample.gt_label.view(-1)[0])
                    counts[1] += 1
        if get_world_size() > 1:
            all_reduce(counts)
        return 100.0 * float(counts[0] / counts[1].clamp(min=1))

    def _select(self, runner, probe: float) -> Tuple[float, float]:
        """Best weight-space mix on val: (alpha, its val top-1).

        alpha 0 is the probe (stage 1), 1 the fine-tuned model, between them
        WiSE-FT (Wortsman et al., CVPR 2022): every floating-point tensor is
        ``(1 - alpha) * stage1 + alpha * fine_tuned``. Ties go to the larger
        alpha (closer to the fine-tuned model).
        """
        model = self._model(runner)
        tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
        scores = {0.0: probe, 1.0: self.finetuned_val}
        for alpha in self.interpolations:
            model.load_state_dict(mix_states(self._stage1, tuned, alpha))
            scores[alpha] = self._val_top1(runner)
        best = max(scores, key=lambda a: (round(scores[a], 6), a))
        runner.logger.info(
            'LinearProbeHook: val top-1 of the weight-space mixes '
            '(0 = probe, 1 = fine-tuned): ' + ', '.join(
                f'{a:g}: {scores[a]:.2f}' for a in sorted(scores))
            + f'; kept {best:g}.')
        model.load_state_dict(mix_states(self._stage1, tuned, best))
        return best, scores[best]

    def after_train(self, runner) -> None:
        """Keep the best of the probe, the fine-tuned model and their mixes.

        Args:
            runner: The mmengine Runner.
        """
        self._training = False
        probe = (self.summary or {}).get('val_top1')
        if not self.keep_better or probe is None:
            return
        if self.finetuned_val is None:
            runner.logger.warning(
                'LinearProbeHook: no validation during training, so the '
                'fine-tuned model was not compared with the probe.')
            return
        if self._stage1 is None:  # resumed: stage 1 is not in memory
            if self.finetuned_val < probe - 1e-6:
                runner.logger.warning(
                    'LinearProbeHook: fine-tuning ended below the probe on '
                    f'val ({self.finetuned_val:.2f} < {probe:.2f}); the '
                    'stage-1 weights of the interrupted run are in '
                    'linear_probe.pth.')
            self.kept, self.alpha = 'fine-tuned', 1.0
            return
        self.alpha, val = self._select(runner, probe)
        if self.alpha == 1.0:
            self.kept = 'fine-tuned'
            return
        if self.alpha == 0.0:
            self.kept = 'probe'
            what = ('the stage-1 (probe) weights (also in '
                    f"{osp.join(runner.work_dir, 'linear_probe.pth')})")
        else:
            self.kept = 'interpolated'
            what = (f'{1 - self.alpha:g} x probe + {self.alpha:g} x '
                    'fine-tuned weights')
        runner.logger.warning(
            f'LinearProbeHook: fine-tuning ended at {self.finetuned_val:.2f} '
            f'val top-1, the linear probe at {probe:.2f}: the model now holds '
            f'{what} (val {val:.2f}). Validating them once more, so that '
            'the calibration is fitted for them and the best checkpoint '
            '(best.pth) holds them if they beat every epoch on val.')
        runner.val_loop.run()
        runner.save_checkpoint(runner.work_dir, SELECTED_NAME,
                               save_optimizer=False,
                               save_param_scheduler=False)
        runner.logger.info(
            f'LinearProbeHook: the kept weights are saved as '
            f'{osp.join(runner.work_dir, SELECTED_NAME)}; the epoch '
            'checkpoints hold the fine-tuned ones.')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the probe's figures in the checkpoint's meta.

        Args:
            runner: The mmengine Runner.
            checkpoint: The checkpoint being saved.
        """
        if self.summary is not None:
            checkpoint.setdefault('meta', {})[META_KEY] = copy.deepcopy(
                self.summary)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Remember the loaded checkpoint's meta (for a resumed run).

        Args:
            runner: The mmengine Runner.
            checkpoint: The loaded checkpoint.
        """
        self._loaded_meta = checkpoint.get('meta') or {}
