"""Log each compatibility fix once per process."""
import logging
from typing import Set

from mmengine.logging import print_log

_SEEN: Set[str] = set()


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
    print_log(f'fruit_ext.compat: {message}', logger='current', level=level)
