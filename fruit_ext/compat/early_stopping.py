"""``EarlyStoppingHook`` in test runs, and its count across ``--resume``.

Upstream bug (mmengine 0.10.7 ``EarlyStoppingHook.before_run``): it checks
``hasattr(runner.train_loop, 'stop_training')``, and ``runner.train_loop``
builds the train loop - its dataloader and dataset - when it is not built
yet. ``before_run`` also runs for ``runner.test()`` and ``runner.val()``, so
``mim test`` with a config that has the hook (for instance the
``configs/_base_/early_stopping.py`` preset) scans the training split, and
stops with ``FileNotFoundError`` where there is none (a test-only machine, a
copy of the val split).

``Runner.train()`` builds the train loop before ``before_run``, so the fix
runs the check only when the loop was built; test and val runs skip it.

Upstream gap: the hook's best score and its count of validations without a
gain live on the hook only, so ``--resume`` started both afresh and a run
that was interrupted trained up to ``patience`` validations longer than one
that was not. They are now saved in each checkpoint (``early_stopping``) and
read back on resume when the monitored key is the same.
"""
from mmengine.hooks import EarlyStoppingHook
from mmengine.runner import BaseLoop

from ._log import log_once

_original_before_run = EarlyStoppingHook.before_run
_KEY = 'early_stopping'


def before_run(self: EarlyStoppingHook, runner) -> None:
    """Check the train loop only when training built it.

    Args:
        self: The hook.
        runner: The mmengine Runner.
    """
    if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
        log_once('early-stopping-test', 'EarlyStoppingHook: not a training '
                 'run, so the train loop (and its data) is not built')
        return
    _original_before_run(self, runner)


def before_save_checkpoint(self: EarlyStoppingHook, runner,
                           checkpoint: dict) -> None:
    """Keep the best score and the count without a gain in the checkpoint.

    Args:
        self: The hook.
        runner: The mmengine Runner.
        checkpoint: The checkpoint being saved.
    """
    checkpoint[_KEY] = dict(monitor=self.monitor,
                            best_score=float(self.best_score),
                            wait_count=int(self.wait_count))


def after_load_checkpoint(self: EarlyStoppingHook, runner,
                          checkpoint: dict) -> None:
    """Continue the count of a resumed run.

    Args:
        self: The hook.
        runner: The mmengine Runner.
        checkpoint: The checkpoint read by ``--resume`` (or ``load_from``,
            which starts a new run: the count is left alone then).
    """
    state = checkpoint.get(_KEY)
    if not runner._resume or not state:
        return
    if state['monitor'] != self.monitor:
        runner.logger.warning(
            f"EarlyStoppingHook: the checkpoint counted {state['monitor']!r},"
            f' this run monitors {self.monitor!r}: the count starts afresh')
        return
    self.best_score, self.wait_count = state['best_score'], state['wait_count']
    runner.logger.info(
        f'EarlyStoppingHook: resumed with best {self.monitor} '
        f'{self.best_score:.3f} and {self.wait_count} validation(s) '
        f'without a gain (patience {self.patience})')


def apply() -> None:
    """Install the fixed ``EarlyStoppingHook`` methods (idempotent)."""
    EarlyStoppingHook.before_run = before_run
    EarlyStoppingHook.before_save_checkpoint = before_save_checkpoint
    EarlyStoppingHook.after_load_checkpoint = after_load_checkpoint


def revert() -> None:
    """Restore mmengine's ``EarlyStoppingHook`` (used by tests)."""
    EarlyStoppingHook.before_run = _original_before_run
    for name in ('before_save_checkpoint', 'after_load_checkpoint'):
        if name in vars(EarlyStoppingHook):  # back to Hook's no-op
            delattr(EarlyStoppingHook, name)
