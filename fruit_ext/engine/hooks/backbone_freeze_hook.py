"""Freeze the backbone for the first epochs, then unfreeze it (gradually)."""
from typing import Dict, List, Optional, Sequence, Set

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch.nn.modules.batchnorm import _BatchNorm


class _Group:
    """Parameters and BatchNorm layers that freeze and unfreeze together."""

    def __init__(self, name: str, params: List[nn.Parameter],
                 norms: List[_BatchNorm]):
        self.name = name
        self.params = params
        self.norms = norms


@HOOKS.register_module()
class BackboneFreezeHook(Hook):
    """Train only the head first; then unfreeze the backbone, stage by stage.

    While frozen, a group's parameters get no gradients (``requires_grad`` is
    False, so the optimizer skips them: no update, no weight decay) and its
    BatchNorm layers stay in eval mode (running statistics unchanged). The
    optimizer keeps every parameter in its param groups from the start, so
    after unfreezing each one trains with its configured LR multiplier
    (``paramwise_cfg``). The state is a function of the current epoch (or
    iteration) only, so a resumed run freezes exactly what the interrupted
    run had frozen at that point.

    Args:
        freeze: Epochs (or iterations, with ``by_epoch=False``) during which
            the whole ``module`` is frozen. 0 disables freezing.
        by_epoch: Count ``freeze`` and ``stage_interval`` in epochs or in
            iterations.
        module: Dotted name of the model's submodule to freeze.
        stages: Names of submodules of ``module``, input side first (e.g.
            ``['conv1', 'layer1', ..., 'conv2']``). When given, unfreezing is
            gradual: after ``freeze``, the last stage unfreezes, then one
            more (towards the input) every ``stage_interval``. Parameters in
            no listed stage unfreeze with the first stage. None unfreezes
            everything at once.
        stage_interval: Epochs (or iterations) between two stages.
    """

    priority = 'HIGH'

    def __init__(self,
                 freeze: int = 1,
                 by_epoch: bool = True,
                 module: str = 'backbone',
                 stages: Optional[Sequence[str]] = None,
                 stage_interval: int = 1):
        if freeze < 0 or stage_interval < 1:
            raise ValueError(
                f'BackboneFreezeHook: freeze={freeze} must be >= 0 and '
                f'stage_interval={stage_interval} >= 1.')
        self.freeze = freeze
        self.by_epoch = by_epoch
        self.module = module
        self.stages = list(stages) if stages else None
        self.stage_interval = stage_interval
        self._groups: List[_Group] = []
        self._unfrozen: Optional[int] = None

    def _build_groups(self, model: nn.Module) -> List[_Group]:
        try:
            root = model.get_submodule(self.module)
        except AttributeError as error:
            raise ValueError(
                f'BackboneFreezeHook: the model has no submodule '
                f'{self.module!r} (its children: '
                f'{[name for name, _ in model.named_children()]}).') from error
        stage_names = self.stages or ['']
        groups = []
        for stage in stage_names:
            try:
                part = root.get_submodule(stage) if stage else root
            except AttributeError as error:
                raise ValueError(
                    f'BackboneFreezeHook: {self.module} has no stage '
                    f'{stage!r} (its children: '
                    f'{[name for name, _ in root.named_children()]}).'
                ) from error
            name = f'{self.module}.{stage}' if stage else self.module
            groups.append(_Group(name, list(part.parameters()), [
                m for m in part.modules() if isinstance(m, _BatchNorm)]))
        seen_params = {id(p) for group in groups for p in group.params}
        seen_norms = {id(m) for group in groups for m in group.norms}
        groups[0].params += [
            p for p in root.parameters() if id(p) not in seen_params]
        groups[0].norms += [
            m for m in root.modules()
            if isinstance(m, _BatchNorm) and id(m) not in seen_norms]
        # unfreezing order: deepest stage first
        return groups[::-1]

    def _num_unfrozen(self, step: int) -> int:
        if step < self.freeze:
            return 0
        return min(len(self._groups),
                   1 + (step - self.freeze) // self.stage_interval)

    def _lr_text(self, runner, group: _Group) -> str:
        ids = {id(p) for p in group.params}
        lrs: Set[float] = set()
        for param_group in runner.optim_wrapper.param_groups:
            if any(id(p) in ids for p in param_group['params']):
                lrs.add(param_group['lr'])
        return ', '.join(f'{lr:.6g}' for lr in sorted(lrs))

    def _apply(self, runner, step: int) -> None:
        unfrozen = self._num_unfrozen(step)
        if unfrozen == self._unfrozen:
            return
        unit = 'epoch' if self.by_epoch else 'iter'
        for index, group in enumerate(self._groups):
            trainable = index < unfrozen
            for param in group.params:
                param.requires_grad_(trainable)
            for norm in group.norms:
                norm.train(trainable and runner.model.training)
            was_trainable = self._unfrozen is not None and \
                index < self._unfrozen
            if trainable and not was_trainable:
                runner.logger.info(
                    f'BackboneFreezeHook: {unit} {step}: {group.name} '
                    f'unfrozen, {len(group.params)} parameter tensors train '
                    f'at lr {self._lr_text(runner, group)}.')
            elif not trainable and (self._unfrozen is None or was_trainable):
                runner.logger.info(
                    f'BackboneFreezeHook: {unit} {step}: {group.name} '
                    'frozen (no gradients, BatchNorm statistics fixed).')
        self._unfrozen = unfrozen

    def _check_optimizer(self, runner) -> None:
        in_optimizer = {
            id(p)
            for param_group in runner.optim_wrapper.param_groups
            for p in param_group['params']
        }
        missing = [group.name for group in self._groups
                   if any(id(p) not in in_optimizer for p in group.params)]
        if missing:
            raise RuntimeError(
                f'BackboneFreezeHook: parameters of {missing} are not in the '
                'optimizer, so they could never train after unfreezing.')

    def before_train(self, runner) -> None:
        """Build the groups and set the state for the (resumed) step.

        Args:
            runner: The mmengine Runner.
        """
        model = runner.model
        wrapped = is_model_wrapper(model)
        self._groups = self._build_groups(model.module if wrapped else model)
        freezes = self.freeze > 0 or len(self._groups) > 1
        if wrapped and freezes and not getattr(
                model, 'find_unused_parameters', True):
            raise RuntimeError(
                'BackboneFreezeHook: distributed training with frozen '
                'parameters needs `find_unused_parameters = True` in the '
                'config (or in model_wrapper_cfg).')
        self._unfrozen = None
        self._check_optimizer(runner)
        self._apply(runner, runner.epoch if self.by_epoch else runner.iter)

    def before_train_epoch(self, runner) -> None:
        """Unfreeze what is due at this epoch.

        Args:
            runner: The mmengine Runner.
        """
        if self.by_epoch:
            self._apply(runner, runner.epoch)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[Dict] = None) -> None:
        """Unfreeze what is due at this iteration; keep frozen BN in eval.

        ``model.train()`` at the start of each epoch puts every BatchNorm
        back into training mode, so frozen ones are reset here.

        Args:
            runner: The mmengine Runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: The batch.
        """
        if not self.by_epoch:
            self._apply(runner, runner.iter)
        for group in self._groups[self._unfrozen or 0:]:
            for norm in group.norms:
                if norm.training:
                    norm.eval()
