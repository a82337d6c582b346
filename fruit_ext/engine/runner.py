"""mmengine's Runner with the checks a user's own photo folder needs.

Selected by ``runner_type = 'FruitRunner'`` (set in
``configs/_base_/datasets/fruit30.py``, so every config of the project and
every config built on that base uses it), it works under ``mim train``,
``mim test``, ``tools/train.py``, ``tools/test.py`` and the ``dist_*.sh``
launchers, which all build ``RUNNERS.build(cfg)`` when ``runner_type`` is set.
Before anything is built it applies :func:`resolve_config` (``data_root``,
``classes`` and ``max_epochs`` given once reach every place) and, when
training on CPU, :func:`apply_cpu_fast_path` (``cpu_fast_path``: bfloat16
and channels-last on CPUs with native bfloat16, glibc heap malloc on any
glibc CPU). Then:

* training holds a lock on the work dir (:class:`WorkDirLock`) and only then
  writes the config dump, so a second run into the same dir stops before it
  overwrites anything; test runs leave the training run's dump alone;
* every checkpoint loaded for use must fit the model
  (:mod:`fruit_ext.engine.checkpoint_fit`); only fine-tuning's ``load_from``
  may bring another head, which is re-initialised and logged;
* ``--resume`` with a new ``max_epochs`` keeps the schedule of this run's
  config instead of the checkpoint's (logged as "schedule extended");
* the log names the data root, images and classes of every split at start;
  the environment, config and hook dumps go to the log file only.
"""
import copy
import math
from typing import Dict, List, Optional

from mmengine.dist import barrier, broadcast_object_list
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)
from mmengine.model import is_model_wrapper

from .cpu_fast_path import apply_cpu_fast_path
from .log_filters import quiet_console
from .resolve_config import resolve_config
from .work_dir_lock import WorkDirBusyError, WorkDirLock


def _schedulers(runner: Runner) -> List:
    schedulers = runner.param_schedulers or []
    if isinstance(schedulers, dict):
        return [s for group in schedulers.values() for s in group]
    return list(schedulers)


@RUNNERS.register_module()
class FruitRunner(Runner):
    """Runner that resolves once-given settings and guards the work dir.

    Takes the same arguments as :class:`mmengine.runner.Runner`.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._mode = 'build'
        super().__init__(*args, **kwargs)

    @classmethod
    def from_cfg(cls, cfg) -> 'FruitRunner':
        """Resolve the config (see :func:`resolve_config`), then build.

        Args:
            cfg: The config.

        Returns:
            The runner.
        """
        cfg = copy.deepcopy(cfg)
        resolved = resolve_config(cfg)
        fast_path = apply_cpu_fast_path(cfg)
        runner = super().from_cfg(cfg)
        for line in resolved + (fast_path.splitlines() if fast_path else []):
            runner.logger.info(line)
        return runner

    def build_logger(self, *args, **kwargs):
        """mmengine's logger, with the start-up dumps kept to the file."""
        logger = super().build_logger(*args, **kwargs)
        quiet_console(logger)
        return logger

    # ---- the work dir: one training run at a time ----
    def dump_config(self) -> None:
        """Dump the config once training holds the work dir (see train)."""
        if self._mode == 'train':
            super().dump_config()

    def _lock_work_dir(self) -> Optional[WorkDirLock]:
        lock, error = None, None
        if self.rank == 0:
            lock = WorkDirLock(self.work_dir)
            try:
                took_over, previous = lock.acquire()
                if took_over:
                    self.logger.warning(
                        f'{lock.path}: took over the lock of a run that '
                        f'ended without releasing it (PID '
                        f'{previous.get("pid")} on {previous.get("host")}).')
            except WorkDirBusyError as busy:
                lock, error = None, str(busy)
        if self.distributed:
            shared = [error]
            broadcast_object_list(shared, src=0)
            error = shared[0]
        if error:
            raise WorkDirBusyError(error)
        return lock

    def train(self):
        """Train while holding the work dir; see :meth:`Runner.train`."""
        lock = self._lock_work_dir()
        self._mode = 'train'
        try:
            self.dump_config()
            model = super().train()
            # ranks leave together: a rank that exited while rank 0 still
            # wrote its last checkpoints aborted now and then (gloo, SIGABRT)
            barrier()
            return model
        finally:
            if lock is not None:
                lock.release()

    def val(self) -> dict:
        """Validate; see :meth:`Runner.val`."""
        self._mode = 'val'
        return super().val()

    def test(self) -> dict:
        """Test; see :meth:`Runner.test`."""
        self._mode = 'test'
        return super().test()

    # ---- checkpoints must fit ----
    def load_checkpoint(self, filename: str, map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        """Load a checkpoint that fits the model, else fail naming it.

        Only fine-tuning's ``load_from`` (training, not resuming) may bring
        a head for another class count; it is re-initialised and logged.

        Args:
            filename: Checkpoint path or URL.
            map_location: As for :meth:`Runner.load_checkpoint`.
            strict: As for :meth:`Runner.load_checkpoint`.
            revise_keys: As for :meth:`Runner.load_checkpoint`.

        Returns:
            The loaded checkpoint.
        """
        from .checkpoint_fit import (check_checkpoint_fits,
                                     check_checkpoint_matches_config)
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        state_dict = checkpoint.get('state_dict', checkpoint)
        state_dict = {key[7:] if key.startswith('module.') else key: value
                      for key, value in state_dict.items()}
        fine_tuning = self._mode == 'train'
        check_checkpoint_fits(model, state_dict, filename,
                              allow_new_head=fine_tuning, logger=self.logger,
                              meta=checkpoint.get('meta'))
        if not fine_tuning:
            check_checkpoint_matches_config(
                checkpoint.get('meta') or {}, self.cfg, filename)
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    # ---- resume keeps this run's schedule ----
    def resume(self, filename: str, *args, **kwargs) -> None:
        """Resume, keeping the schedule length of this run's config.

        Args:
            filename: Checkpoint to resume from.
            *args: As for :meth:`Runner.resume`.
            **kwargs: As for :meth:`Runner.resume`.
        """
        mode, self._mode = self._mode, 'resume'
        planned = [(s, dict(end=s.end, T_max=getattr(s, 'T_max', None)))
                   for s in _schedulers(self)]
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._mode = mode
        for scheduler, plan in planned:
            self._keep_planned(scheduler, plan)

    def _keep_planned(self, scheduler, plan: Dict) -> None:
        if scheduler.end == plan['end'] and \
                getattr(scheduler, 'T_max', None) == plan['T_max']:
            return
        per_epoch = 1 if scheduler.by_epoch else max(
            len(self.train_dataloader), 1)
        self.logger.info(
            f'{type(scheduler).__name__}: schedule extended from '
            f'{scheduler.end / per_epoch:g} to {plan["end"] / per_epoch:g} '
            'epochs (this run\'s max_epochs; the checkpoint planned the old '
            'length).')
        scheduler.end = plan['end']
        if plan['T_max'] is not None:
            scheduler.T_max = plan['T_max']
            self._cosine_value_now(scheduler)

    def _cosine_value_now(self, scheduler) -> None:
        """Put the optimizer where the lengthened cosine is at this step."""
        step = self.train_loop.epoch if scheduler.by_epoch \
            else self.train_loop.iter
        if not scheduler.begin <= step < scheduler.end:
            return
        # the count it would have had, had the schedule always been this long
        scheduler.last_step = step - scheduler.begin
        for group, base in zip(scheduler.optimizer.param_groups,
                               scheduler.base_values):
            group[scheduler.param_name] = scheduler.eta_min + (
                base - scheduler.eta_min) * (1 + math.cos(
                    math.pi * scheduler.last_step / scheduler.T_max)) / 2

    # ---- say what data the run uses ----
    def call_hook(self, fn_name: str, **kwargs) -> None:
        """Call hooks; before ``before_run``, log the data in use."""
        if fn_name == 'before_run':
            self._log_data_summary()
        super().call_hook(fn_name, **kwargs)

    def _log_data_summary(self) -> None:
        for name in ('train', 'val', 'test'):
            loop = getattr(self, f'_{name}_loop', None)
            dataset = getattr(getattr(loop, 'dataloader', None), 'dataset',
                              None) if isinstance(loop, BaseLoop) else None
            if dataset is None:
                continue
            classes = (getattr(dataset, 'metainfo', None) or {}).get(
                'classes') or ()
            holdout = getattr(dataset, 'holdout', None)
            where = f'held out from {holdout[0]}' if holdout else \
                getattr(dataset, 'img_prefix', '')
            self.logger.info(
                f'{name} data: {len(dataset)} images, {len(classes)} classes, '
                f'data_root {getattr(dataset, "data_root", "?")!r} ({where})')
