"""Crash-safe checkpoints: atomic writes and resume from the last good file.

Upstream bug (mmengine 0.10.7): ``save_checkpoint`` writes a local checkpoint
straight into its final name and ``CheckpointHook`` rewrites
``last_checkpoint`` in place, so a process killed (SIGKILL, OOM killer, a
preempted node) while either is being written leaves a truncated checkpoint
or an empty ``last_checkpoint``; ``--resume`` then fails on that file.

The fix, for local paths only (other storage backends are left alone):

* checkpoints and ``last_checkpoint`` are written to ``<name>.tmp`` in the
  same folder, flushed to disk and renamed into place (``os.replace`` is
  atomic), so a reader sees either the old file or the complete new one;
* on auto-resume (``--resume`` without a path) a checkpoint that is
  truncated, corrupt or missing is reported by name and the newest earlier
  ``epoch_*.pth``/``iter_*.pth`` that loads is used instead. A checkpoint
  named explicitly (``--resume PATH``) still fails loudly.
"""
import builtins
import os
import os.path as osp
import re
from typing import IO, Any, Callable, List, Optional

import mmengine.hooks.checkpoint_hook as checkpoint_hook
import mmengine.runner as runner_package
import mmengine.runner.checkpoint as mme_checkpoint
import mmengine.runner.runner as runner_module
import torch
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.runner import Runner

from ._log import log_once
from .checkpoint import CorruptCheckpointError

TMP_SUFFIX = '.tmp'
_STEP_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')

_original_save_checkpoint = mme_checkpoint.save_checkpoint
_original_resume = Runner.resume


def _fsync_dir(folder: str) -> None:
    """Persist a rename on POSIX file systems (no-op where unsupported)."""
    try:
        fd = os.open(folder or '.', os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, write: Callable[[IO], None],
                 mode: str = 'wb') -> None:
    """Write ``path`` through a temporary sibling renamed into place.

    Args:
        path: Final file path.
        write: Called with the open temporary file; writes the content.
        mode: ``'wb'`` or ``'w'``.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp_path = path + TMP_SUFFIX
    try:
        with builtins.open(tmp_path, mode) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
    _fsync_dir(folder)


def save_checkpoint(checkpoint: dict,
                    filename: str,
                    file_client_args: Optional[dict] = None,
                    backend_args: Optional[dict] = None) -> None:
    """``mmengine.runner.save_checkpoint`` with atomic local writes.

    Args:
        checkpoint: The checkpoint dict.
        filename: Destination path or URI.
        file_client_args: Deprecated mmengine file-client arguments.
        backend_args: mmengine storage backend arguments.
    """
    local = (file_client_args is None and not str(filename).startswith(
        'pavi://') and isinstance(
            get_file_backend(filename, backend_args=backend_args),
            LocalBackend))
    if not local:
        _original_save_checkpoint(checkpoint, filename, file_client_args,
                                  backend_args)
        return
    log_once('atomic-save', 'checkpoints are written to a temporary file '
             'and renamed into place (crash-safe)')
    atomic_write(str(filename), lambda file: torch.save(checkpoint, file))


class _AtomicTextFile:
    """File-like object for ``open(path, 'w')`` that commits on close."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._chunks: List[str] = []

    def write(self, text: str) -> int:
        self._chunks.append(text)
        return len(text)

    def __enter__(self) -> '_AtomicTextFile':
        return self

    def __exit__(self, exc_type, *exc: Any) -> None:
        if exc_type is None:
            content = ''.join(self._chunks)
            atomic_write(self._path, lambda file: file.write(content), 'w')


def _hook_open(file: Any, mode: str = 'r', *args: Any, **kwargs: Any) -> Any:
    """``open`` for mmengine's checkpoint hook, which only writes
    ``last_checkpoint``: writes become atomic, reads are unchanged."""
    if 'w' in mode and not args and not kwargs:
        return _AtomicTextFile(str(file))
    return builtins.open(file, mode, *args, **kwargs)


def earlier_checkpoints(folder: str, failed: str) -> List[str]:
    """Checkpoints in ``folder`` saved before ``failed``, newest first.

    Args:
        folder: Directory holding ``epoch_N.pth`` or ``iter_N.pth`` files.
        failed: The checkpoint that could not be used.

    Returns:
        Paths sorted by step, descending; only steps below ``failed``'s
        when its name carries a step.
    """
    match = _STEP_NAME.match(osp.basename(failed))
    limit = int(match.group(2)) if match else None
    found = []
    for name in os.listdir(folder) if osp.isdir(folder) else []:
        step_match = _STEP_NAME.match(name)
        if not step_match:
            continue
        step = int(step_match.group(2))
        if osp.join(folder, name) != failed and (limit is None
                                                 or step < limit):
            found.append((step, osp.join(folder, name)))
    return [path for _, path in sorted(found, reverse=True)]


def _resume(self: Runner, filename: str, *args: Any, **kwargs: Any) -> None:
    try:
        return _original_resume(self, filename, *args, **kwargs)
    except (CorruptCheckpointError, FileNotFoundError) as error:
        # Only auto-resume (the file came from `last_checkpoint`) falls back.
        if self._load_from is not None:
            raise
        folder = osp.dirname(filename) if filename else self.work_dir
        candidates = earlier_checkpoints(folder, filename)
        if not candidates:
            raise
        self.logger.warning(
            f'Cannot resume from {filename or "(empty last_checkpoint)"}: '
            f'{error}. Resuming from the previous checkpoint '
            f'{candidates[0]} instead.')
        return _resume(self, candidates[0], *args, **kwargs)


def apply() -> None:
    """Install atomic saving and resume fallback (idempotent)."""
    mme_checkpoint.save_checkpoint = save_checkpoint
    runner_module.save_checkpoint = save_checkpoint
    runner_package.save_checkpoint = save_checkpoint
    checkpoint_hook.open = _hook_open
    Runner.resume = _resume


def revert() -> None:
    """Restore mmengine's original behaviour (used by tests)."""
    mme_checkpoint.save_checkpoint = _original_save_checkpoint
    runner_module.save_checkpoint = _original_save_checkpoint
    runner_package.save_checkpoint = _original_save_checkpoint
    if hasattr(checkpoint_hook, 'open'):
        del checkpoint_hook.open
    Runner.resume = _original_resume
