"""One training run per work dir: an advisory lock held for the whole run.

Two runs writing into one work dir overwrite each other's ``epoch_*`` and
``best_*`` checkpoints. The lock is ``fcntl.flock`` on
``{work_dir}/.train.lock``: the kernel drops it when the holder dies, so a
lock file left by a killed run is taken over at once (and said so). The file
names the holder (PID, host, start time) for the message a second run gets.
``flock`` is local to one machine; on a network file system shared between
hosts it may not exclude a run on another host.
"""
import fcntl
import json
import os
import os.path as osp
import socket
import time
from typing import Optional, Tuple

LOCK_NAME = '.train.lock'


class WorkDirBusyError(RuntimeError):
    """Another live training run holds the work dir."""


class WorkDirLock:
    """Hold ``{work_dir}/.train.lock`` until :meth:`release` or exit.

    Args:
        work_dir: The run's work dir (created if missing).
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self._fd: Optional[int] = None

    def _holder(self) -> dict:
        try:
            with open(self.path, encoding='utf-8') as file:
                return json.load(file)
        except (OSError, ValueError):
            return {}

    def acquire(self) -> Tuple[bool, dict]:
        """Take the lock or fail at once.

        Returns:
            ``(took_over, previous holder)``: whether a lock file left by a
            run that died without releasing it was taken over, and who held
            it (a clean finish empties the file).

        Raises:
            WorkDirBusyError: A live run holds it; the message names it.
        """
        os.makedirs(self.work_dir, exist_ok=True)
        previous = self._holder()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self._holder() or previous
            raise WorkDirBusyError(
                f'Work dir {self.work_dir} is in use by another training run '
                f'(PID {holder.get("pid", "?")} on host '
                f'{holder.get("host", "?")}, started '
                f'{holder.get("started", "?")}). Its checkpoints would be '
                'overwritten: wait for it to finish, or pass another '
                '--work-dir.') from None
        me = dict(pid=os.getpid(), host=socket.gethostname(),
                  started=time.strftime('%Y-%m-%d %H:%M:%S'))
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me).encode())
        os.fsync(fd)
        self._fd = fd
        return bool(previous), previous

    def release(self) -> None:
        """Let go of the lock; an empty file means a clean finish."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
