"""Safe checkpoint saving and loading on torch >= 2.6.

Upstream bug: mmengine 0.10.7 saves the message hub's ``HistoryBuffer``
objects and numpy arrays into training checkpoints, and loads them with a bare
``torch.load``. Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``,
so every ``resume``/``load_from``/``mim test`` of such a checkpoint fails with
``Unsupported global: mmengine.logging.history_buffer.HistoryBuffer``. Its
HTTP loader, in turn, unpickles downloads with ``weights_only=False``.
(Fixed only on mmengine's unreleased main branch.)

The fix, in two halves:

* **Save**: ``MessageHub.state_dict`` returns plain data (tensors, lists,
  numbers) instead of ``HistoryBuffer`` objects and numpy values, and
  ``MessageHub.load_state_dict`` turns them back. Checkpoints written with
  fruit_ext imported are therefore weights-only safe.
* **Load**: local files and downloads are loaded with ``weights_only=True``.
  A file that needs arbitrary pickled globals is refused with a message that
  says how to trust it explicitly (:func:`trust_checkpoint` or the
  ``FRUIT_EXT_TRUSTED_CHECKPOINTS`` environment variable); its payload never
  runs unless trusted.
"""
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import checkpoint as mme_checkpoint
from torch.hub import load_state_dict_from_url

from ._log import log_once

TRUST_ENV = 'FRUIT_EXT_TRUSTED_CHECKPOINTS'
_BUFFER_TAG = '__fruit_ext_history_buffer__'
_ARRAY_TAG = '__fruit_ext_ndarray__'


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs arbitrary pickled objects and is not trusted."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is truncated or not a checkpoint at all."""


# --------------------------------------------------------------------------
# Trust
# --------------------------------------------------------------------------
def trust_checkpoint(path: str) -> None:
    """Allow full (unsafe) unpickling of one checkpoint file or directory.

    The choice is stored in the ``FRUIT_EXT_TRUSTED_CHECKPOINTS`` environment
    variable, so processes started afterwards (``mim train``) inherit it.

    Args:
        path: A checkpoint file, or a directory whose files are all trusted.
    """
    entries = [p for p in os.environ.get(TRUST_ENV, '').split(os.pathsep) if p]
    entries.append(str(Path(path).resolve()))
    os.environ[TRUST_ENV] = os.pathsep.join(entries)


def is_trusted(path: str) -> bool:
    """Whether ``path`` was explicitly trusted by the user.

    Args:
        path: Path of a local checkpoint.

    Returns:
        True when the file, or a directory above it, is listed in
        ``FRUIT_EXT_TRUSTED_CHECKPOINTS``.
    """
    resolved = Path(path).resolve()
    for entry in os.environ.get(TRUST_ENV, '').split(os.pathsep):
        if not entry:
            continue
        trusted = Path(entry).resolve()
        if resolved == trusted or trusted in resolved.parents:
            return True
    return False


def _untrusted_message(path: str, error: Exception) -> str:
    reason = str(error).strip().splitlines()
    detail = next((line for line in reason if 'Unsupported global' in line),
                  reason[0] if reason else '')
    return (
        f'Refusing to unpickle checkpoint {path}: it holds Python objects '
        f'beyond tensors and plain data ({detail.strip()}). Loading it could '
        'run arbitrary code. If you produced this file yourself or trust its '
        f'source, allow it explicitly: set {TRUST_ENV}={path} (several paths '
        'separated by "%s"; a directory trusts every file under it), or call '
        'fruit_ext.compat.trust_checkpoint(path) before loading.' % os.pathsep)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------
_ZIP, _PICKLE = b'PK\x03\x04', b'\x80'


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _looks_like_onnx(path: str, head: bytes) -> bool:
    if not head.startswith(b'\x08'):  # ModelProto field 1 (ir_version)
        return False
    try:
        import onnx
        onnx.load(path, load_external_data=False)
        return True
    except Exception:  # not ONNX (or onnx absent): judged by other rules
        return b'onnx' in head.lower() or b'pytorch' in head.lower()


def _text_start(head: bytes) -> Optional[str]:
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        return None
    printable = all(c.isprintable() or c in '\r\n\t' for c in text)
    return text.strip().splitlines()[0][:40] if printable and text.strip() \
        else None


def what_is_not_a_checkpoint(path: str) -> Optional[str]:
    """Say what a file is when it cannot be a PyTorch checkpoint.

    Args:
        path: An existing local file.

    Returns:
        None for a torch zip or pickle file; otherwise a message naming the
        file, what it is and what to do.
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as file:
        head = file.read(64)
    if size == 0:
        return (f'Checkpoint {path} is empty (0 bytes): its save or copy was '
                'interrupted. Use another checkpoint (e.g. the previous '
                'epoch_N.pth) or copy it again.')
    if head.startswith((_ZIP, _PICKLE)):
        return None
    if _looks_like_onnx(path, head):
        return (f'{path} is an ONNX model, not a PyTorch checkpoint: run it '
                'with the ONNX Predictor (python fruit_ext/apis/predictor.py '
                f'{path} IMAGE, or fruit_ext.apis.Predictor), or pass the '
                '.pth it was exported from.')
    text = _text_start(head)
    if text is not None and text.startswith('version https://git-lfs'):
        return (f'Checkpoint {path} is a Git LFS pointer, not the file: run '
                '`git lfs pull` to fetch the real checkpoint.')
    if text is not None:
        return (f'Checkpoint {path} is a text file (starts with {text!r}), '
                'not a PyTorch checkpoint. Pass the .pth written by training '
                '(epoch_N.pth, best.pth) or by tools/deploy/publish_model.py.')
    return (f'Checkpoint {path} is not a PyTorch checkpoint (neither a torch '
            f'zip archive nor a pickle; it starts with {head[:8]!r}). Pass '
            'the .pth written by training or by '
            'tools/deploy/publish_model.py.')


def safe_torch_load(path: str, map_location: Any = None) -> Any:
    """``torch.load`` that is weights-only unless the file is trusted.

    Args:
        path: Local checkpoint path.
        map_location: Passed to :func:`torch.load`.

    Returns:
        The loaded object.

    Raises:
        FileNotFoundError: The file does not exist.
        UntrustedCheckpointError: It needs unsafe unpickling and is not trusted.
        CorruptCheckpointError: It is truncated or not a torch checkpoint.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path}')
    problem = what_is_not_a_checkpoint(path)
    if problem:
        raise CorruptCheckpointError(problem)
    weights_only = not is_trusted(path)
    if not weights_only:
        log_once(f'trusted:{path}',
                 f'loading trusted checkpoint {path} with full unpickling')
    try:
        return torch.load(
            path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as error:
        if weights_only and 'weights_only' in str(error):
            raise UntrustedCheckpointError(
                _untrusted_message(path, error)) from None
        raise CorruptCheckpointError(
            f'Checkpoint {path} is corrupt or not a PyTorch checkpoint: '
            f'{error}') from None
    except Exception as error:  # torch raises many types on broken files
        raise CorruptCheckpointError(
            f'Checkpoint {path} is truncated or corrupt '
            f'({type(error).__name__}: {_first_line(error)}). Use another '
            'checkpoint (e.g. the previous epoch_N.pth).') from None


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """mmengine scheme loader for local paths (replaces the upstream one).

    Args:
        filename: Local path, ``~`` expanded.
        map_location: Passed to :func:`torch.load`.

    Returns:
        The loaded checkpoint (a ``.safetensors`` file is read as
        ``{'state_dict', 'meta'}``, so ``load_from`` and ``mim test
        --checkpoint`` take one too).
    """
    from .safetensors_format import is_safetensors, read_safetensors
    filename = os.path.expanduser(filename)
    if os.path.isfile(filename) and is_safetensors(filename):
        return read_safetensors(filename)
    return safe_torch_load(filename, map_location)


def load_url_weights_only(url: str,
                          model_dir: Optional[str] = None,
                          map_location: Any = None,
                          progress: bool = True,
                          **kwargs) -> Any:
    """Download a checkpoint and load it weights-only.

    Args:
        url: HTTP(S) address of the checkpoint.
        model_dir: Cache directory (torch hub's by default).
        map_location: Passed to :func:`torch.load`.
        progress: Show a download progress bar.
        **kwargs: Other arguments of :func:`torch.hub.load_state_dict_from_url`.

    Returns:
        The loaded checkpoint.
    """
    try:
        return load_state_dict_from_url(
            url,
            model_dir=model_dir,
            map_location=map_location,
            progress=progress,
            weights_only=True,
            **kwargs)
    except pickle.UnpicklingError as error:
        raise UntrustedCheckpointError(_untrusted_message(url, error)) from None
    except OSError as error:  # URLError, socket errors, DNS failures
        raise RuntimeError(
            f'Could not download checkpoint {url} ({error}). Without network '
            'access, download the file elsewhere and point `load_from` (or '
            '`--cfg-options load_from=PATH`) at the local copy, or set '
            '`load_from=None` to train from scratch.') from None


# --------------------------------------------------------------------------
# Saving: message hub state as plain data
# --------------------------------------------------------------------------
def to_plain(value: Any) -> Any:
    """Convert history buffers and numpy values into weights-only-safe data.

    Args:
        value: A message hub value (nested dicts/lists allowed).

    Returns:
        The same structure with ``HistoryBuffer`` and numpy objects replaced
        by tagged dicts of tensors, and numpy scalars by Python numbers.
    """
    if isinstance(value, HistoryBuffer):
        logs, counts = value.data
        return {
            _BUFFER_TAG: True,
            'log_history': torch.from_numpy(np.asarray(logs, np.float64)),
            'count_history': torch.from_numpy(np.asarray(counts, np.float64)),
            'max_length': int(value.max_length),
        }
    if isinstance(value, np.ndarray):
        return {_ARRAY_TAG: True, 'data': torch.from_numpy(value.copy())}
    if isinstance(value, np.generic):
        return value.item()
    return _map_items(value, to_plain)


def _map_items(value: Any, convert) -> Any:
    """``convert`` applied to the items of a dict, list or tuple (same type
    back); anything else unchanged."""
    if isinstance(value, dict):
        converted = {key: convert(item) for key, item in value.items()}
        return OrderedDict(converted) if isinstance(
            value, OrderedDict) else converted
    if isinstance(value, (list, tuple)):
        return type(value)(convert(item) for item in value)
    return value


def from_plain(value: Any) -> Any:
    """Invert :func:`to_plain`.

    Args:
        value: Data produced by :func:`to_plain` (or legacy objects).

    Returns:
        The structure with history buffers and numpy arrays restored.
    """
    if isinstance(value, dict):
        if value.get(_BUFFER_TAG):
            return HistoryBuffer(
                value['log_history'].numpy().tolist(),
                value['count_history'].numpy().tolist(),
                max_length=value['max_length'])
        if value.get(_ARRAY_TAG):
            return value['data'].numpy()
    return _map_items(value, from_plain)


_original_state_dict = MessageHub.state_dict
_original_load_state_dict = MessageHub.load_state_dict


def _plain_state_dict(self: MessageHub) -> dict:
    state = _original_state_dict(self)
    log_once('checkpoint-save', 'message hub state is saved as plain data so '
             'checkpoints load with torch.load(weights_only=True)')
    return to_plain(state)


def _plain_load_state_dict(self: MessageHub, state_dict: Any) -> None:
    if isinstance(state_dict, dict):
        state_dict = from_plain(state_dict)
    _original_load_state_dict(self, state_dict)


def _set_loaders(state_dict, load_state_dict, local_loader, url_loader):
    MessageHub.state_dict = state_dict
    MessageHub.load_state_dict = load_state_dict
    mme_checkpoint.CheckpointLoader.register_scheme(
        prefixes='', loader=local_loader, force=True)
    mme_checkpoint.load_url = url_loader


def apply() -> None:
    """Install the safe save/load behaviour (idempotent)."""
    _set_loaders(_plain_state_dict, _plain_load_state_dict, load_from_local,
                 load_url_weights_only)


def revert() -> None:
    """Restore mmengine's original behaviour (used by tests)."""
    _set_loaders(_original_state_dict, _original_load_state_dict,
                 _original_local_loader, _original_load_url)


_original_local_loader = mme_checkpoint.load_from_local
_original_load_url = mme_checkpoint.load_url
