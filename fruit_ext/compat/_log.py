"""Log each compatibility fix once per process (or once per run)."""
import logging
import multiprocessing
from typing import Any, Dict, Set

from mmengine.logging import print_log

_SEEN: Set[str] = set()
# Flags in shared memory for messages logged from data loader workers: made
# in the main process, inherited by the (forked) workers, so N workers and
# workers re-created every epoch log such a message once in all.
_SHARED: Dict[str, Any] = {}


def share_across_processes(key: str) -> None:
    """Make :func:`log_once` for ``key`` log once across forked processes.

    Call it in the main process before data loader workers start (for
    instance when the fix is applied at import).

    Args:
        key: Identifier of the message, as passed to :func:`log_once`.
    """
    if key not in _SHARED:
        _SHARED[key] = multiprocessing.Value('b', 0)


def log_once(key: str, message: str, level: int = logging.INFO) -> None:
    """Log ``message`` through mmengine's current logger the first time only.

    Args:
        key: Identifier of the message; later calls with it are ignored.
        message: Text to log, prefixed with ``fruit_ext.compat``.
        level: Logging level.
    """
    if key in _SEEN:
        return
    _SEEN.add(key)
    flag = _SHARED.get(key)
    if flag is not None:
        with flag.get_lock():
            if flag.value:
                return
            flag.value = 1
    print_log(f'fruit_ext.compat: {message}', logger='current', level=level)
