"""``EarlyStoppingHook`` in test runs: no training split needed.

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
"""
from mmengine.hooks import EarlyStoppingHook
from mmengine.runner import BaseLoop

from ._log import log_once

_original_before_run = EarlyStoppingHook.before_run


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


def apply() -> None:
    """Install the fixed ``EarlyStoppingHook.before_run`` (idempotent)."""
    EarlyStoppingHook.before_run = before_run


def revert() -> None:
    """Restore mmengine's ``EarlyStoppingHook.before_run`` (used by tests)."""
    EarlyStoppingHook.before_run = _original_before_run
