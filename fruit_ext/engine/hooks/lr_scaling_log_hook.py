"""Log the learning rate actually used and why; keep it scaled on resume."""
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.optim import BaseOptimWrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class LRScalingLogHook(Hook):
    """Log the learning rate of every param group when training starts.

    With ``auto_scale_lr`` enabled the message shows the rule
    ``config lr x (GPUs x batch per GPU) / base_batch_size``, so a run on one
    GPU says why its LR is an eighth of the 8-GPU config's.

    It also makes the scaling hold on resume. mmengine scales the LR before
    it resumes, and resuming restores the optimizer's LR from the checkpoint,
    so a run resumed with another world size would keep the old world size's
    LR. When ``auto_scale_lr`` is enabled and the resumed schedule started
    from another LR than this run's scaled one, the hook rescales the LR
    (param groups and schedulers) by the ratio and logs it. The checkpoint
    records the world size it was trained with (``meta.world_size``).
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._scaled_lrs: List[float] = []
        self._resumed_world_size: Optional[int] = None

    def before_run(self, runner) -> None:
        """Remember the LRs set by ``auto_scale_lr``, before any resume.

        Args:
            runner: The mmengine Runner.
        """
        if not isinstance(runner.optim_wrapper, BaseOptimWrapper):
            return  # a test or validation run: nothing is trained
        self._scaled_lrs = [
            group['initial_lr'] if 'initial_lr' in group else group['lr']
            for group in runner.optim_wrapper.param_groups
        ]

    def before_save_checkpoint(self, runner, checkpoint: Dict) -> None:
        """Record the world size in the checkpoint's meta.

        Args:
            runner: The mmengine Runner.
            checkpoint: The checkpoint being saved.
        """
        checkpoint.setdefault('meta', {})['world_size'] = runner.world_size

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        """Read the world size the checkpoint was trained with.

        Args:
            runner: The mmengine Runner.
            checkpoint: The loaded checkpoint.
        """
        self._resumed_world_size = checkpoint.get('meta', {}).get(
            'world_size')

    def before_train(self, runner) -> None:
        """Rescale a resumed LR if needed, then log the LR in use.

        Args:
            runner: The mmengine Runner.
        """
        scale_cfg = runner.cfg.get('auto_scale_lr') or {}
        if scale_cfg.get('enable', False):
            self._follow_world_size(runner)
        optimizer_cfg = runner.cfg.get('optim_wrapper', {}).get(
            'optimizer', {})
        config_lr: Optional[float] = optimizer_cfg.get('lr')
        lrs = sorted({group['lr']
                      for group in runner.optim_wrapper.param_groups})
        lr_text = ', '.join(f'{lr:.6g}' for lr in lrs)
        batch = self._batch_size(runner)
        world = runner.world_size
        if not runner.cfg:
            # mmpretrain's vis_scheduler builds Runner(...) by hand: no
            # config, so auto_scale_lr is never applied to what it plots.
            runner.logger.warning(
                f'Learning rate in use: {lr_text}, NOT scaled: this runner '
                'was built without a config, so auto_scale_lr (if the '
                'config enables it) was not applied; a real run uses config '
                'lr x (processes x images per process) / base_batch_size.')
            return
        if batch is None:
            reason = ('the train dataloader has no batch_size, so the '
                      'auto_scale_lr rule cannot be shown')
        elif scale_cfg.get('enable', False) and config_lr is not None:
            base = scale_cfg['base_batch_size']
            procs = f"{world} process{'es' if world > 1 else ''}"
            reason = (f'auto_scale_lr: config lr {config_lr:g} x ({procs} x '
                      f'{batch} images per process) / base_batch_size {base}'
                      f' = {config_lr * world * batch / base:.6g}')
        else:
            reason = (f'auto_scale_lr disabled: config lr {config_lr} used '
                      f'as is for {world} x {batch} images')
        runner.logger.info(f'Learning rate in use: {lr_text} ({reason}).')

    @staticmethod
    def _batch_size(runner) -> Optional[int]:
        """Images per process of the train dataloader, None if unknown.

        Args:
            runner: The mmengine Runner.

        Returns:
            The loader's ``batch_size``, else the config's, else None (a
            loader built by hand without one, like vis_scheduler's).
        """
        batch = getattr(runner.train_dataloader, 'batch_size', None)
        if batch is None:
            loader_cfg = runner.cfg.get('train_dataloader') or {}
            batch = loader_cfg.get('batch_size')
        return batch

    def _follow_world_size(self, runner) -> None:
        """Rescale the resumed LR schedule to this run's scaled LR."""
        groups = runner.optim_wrapper.param_groups
        ratios = [
            scaled / group['initial_lr'] if group.get('initial_lr') else 1.0
            for scaled, group in zip(self._scaled_lrs, groups)
        ]
        if all(abs(ratio - 1) < 1e-9 for ratio in ratios):
            return
        old_lrs = sorted({group['lr'] for group in groups})
        for ratio, group in zip(ratios, groups):
            group['lr'] *= ratio
            group['initial_lr'] *= ratio
        schedulers = runner.param_schedulers or []
        if isinstance(schedulers, dict):
            schedulers = [s for group in schedulers.values() for s in group]
        for scheduler in schedulers:
            if getattr(scheduler, 'param_name', None) != 'lr':
                continue
            scheduler.base_values = [
                value * ratio
                for value, ratio in zip(scheduler.base_values, ratios)
            ]
            scheduler._last_value = [
                value * ratio
                for value, ratio in zip(scheduler._last_value, ratios)
            ]
        before = (f'{self._resumed_world_size} process(es)'
                  if self._resumed_world_size else 'another setting')
        new_lrs = sorted({group['lr'] for group in groups})
        runner.logger.info(
            f'auto_scale_lr on resume: the checkpoint was trained with '
            f'{before}, this run has {runner.world_size}; its learning rate '
            f'{", ".join(f"{lr:.6g}" for lr in old_lrs)} is rescaled by '
            f'{ratios[0]:.6g} to {", ".join(f"{lr:.6g}" for lr in new_lrs)} '
            '(mmengine restores the checkpoint LR after scaling it).')
