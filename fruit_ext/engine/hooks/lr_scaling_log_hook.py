"""Log the learning rate actually used and why."""
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class LRScalingLogHook(Hook):
    """Log the learning rate of every param group when training starts.

    With ``auto_scale_lr`` enabled the message shows the rule
    ``config lr x (GPUs x batch per GPU) / base_batch_size``, so a run on one
    GPU says why its LR is an eighth of the 8-GPU config's.
    """

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        """Write the message to the runner's log.

        Args:
            runner: The mmengine Runner.
        """
        optimizer_cfg = runner.cfg.get('optim_wrapper', {}).get(
            'optimizer', {})
        config_lr: Optional[float] = optimizer_cfg.get('lr')
        lrs = sorted({group['lr']
                      for group in runner.optim_wrapper.param_groups})
        lr_text = ', '.join(f'{lr:.6g}' for lr in lrs)
        scale_cfg = runner.cfg.get('auto_scale_lr') or {}
        batch = runner.train_dataloader.batch_size
        world = runner.world_size
        if scale_cfg.get('enable', False) and config_lr is not None:
            base = scale_cfg['base_batch_size']
            procs = f"{world} process{'es' if world > 1 else ''}"
            reason = (f'auto_scale_lr: config lr {config_lr:g} x ({procs} x '
                      f'{batch} images per process) / base_batch_size {base}'
                      f' = {config_lr * world * batch / base:.6g}')
        else:
            reason = (f'auto_scale_lr disabled: config lr {config_lr} used '
                      f'as is for {world} x {batch} images')
        runner.logger.info(f'Learning rate in use: {lr_text} ({reason}).')
