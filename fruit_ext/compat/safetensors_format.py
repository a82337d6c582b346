"""Weights as ``model.safetensors``: tensors plus the metadata to use them.

safetensors stores only tensors and a string-to-string header, so loading
one can never run code. The header keeps what a user of the weights needs
besides the tensors, each value a JSON string:

``classes``, ``aliases`` (class names and English aliases), ``input_size``
(pixels of the test pipeline's crop), ``mean``/``std`` (normalisation of the
data preprocessor, 0-255 scale), ``temperature`` (when the checkpoint's meta
has one) and ``config`` (the training config's text, as mmengine stores it in
``meta['cfg']``).
"""
import json
import os.path as osp
from typing import Any, Dict, Optional

import torch

from .checkpoint import CorruptCheckpointError

SUFFIX = '.safetensors'


def is_safetensors(path: str) -> bool:
    """Whether ``path`` is a safetensors file (by name or by its header).

    Args:
        path: A local file.

    Returns:
        True for ``*.safetensors`` or a file that starts like one.
    """
    if str(path).endswith(SUFFIX):
        return True
    try:
        with open(path, 'rb') as file:
            head = file.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b'{' and \
        int.from_bytes(head[:8], 'little') < (100 << 20)


def _preprocess(cfg: Any) -> Dict[str, Any]:
    """mean/std and input size from a config (empty when unknown)."""
    from ..engine.checkpoint_fit import input_size
    if cfg is None:
        return {}
    found = {}
    preprocessor = cfg.get('model', {}).get('data_preprocessor') or \
        cfg.get('data_preprocessor') or {}
    for key in ('mean', 'std'):
        if preprocessor.get(key) is not None:
            found[key] = [float(v) for v in preprocessor[key]]
    if preprocessor.get('to_rgb') is not None:
        found['to_rgb'] = bool(preprocessor['to_rgb'])
    size = input_size(cfg)
    if size:
        found['input_size'] = size
    return found


def safetensors_metadata(meta: Dict[str, Any]) -> Dict[str, str]:
    """The header for a checkpoint's ``meta``.

    Args:
        meta: Checkpoint meta (``dataset_meta``, ``cfg``, ``temperature``).

    Returns:
        String-to-string metadata (values JSON-encoded, config as text).
    """
    from ..engine.checkpoint_fit import _meta_config
    dataset_meta = meta.get('dataset_meta') or {}
    values: Dict[str, Any] = dict(format='pt')
    for key in ('classes', 'aliases'):
        if dataset_meta.get(key):
            values[key] = list(dataset_meta[key])
    values.update(_preprocess(_meta_config(meta)))
    if meta.get('temperature') is not None:
        values['temperature'] = float(meta['temperature'])
    if isinstance(meta.get('calibration'), dict):  # temperature, threshold
        values['calibration'] = meta['calibration']
    header = {key: value if isinstance(value, str) else
              json.dumps(value, ensure_ascii=False)
              for key, value in values.items()}
    if isinstance(meta.get('cfg'), str):
        header['config'] = meta['cfg']
    return header


def write_safetensors(state_dict: Dict[str, torch.Tensor],
                      meta: Dict[str, Any], out_file: str) -> str:
    """Write tensors and metadata.

    Args:
        state_dict: Model tensors.
        meta: Checkpoint meta (see :func:`safetensors_metadata`).
        out_file: ``.safetensors`` file to write.

    Returns:
        ``out_file``.
    """
    from safetensors.torch import save_file
    tensors = {key: value.detach().cpu().contiguous().clone()
               for key, value in state_dict.items()}
    save_file(tensors, out_file, metadata=safetensors_metadata(meta))
    return out_file


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def read_safetensors(path: str) -> Dict[str, Any]:
    """Read a ``.safetensors`` file as ``{'state_dict', 'meta'}``.

    Args:
        path: The file.

    Returns:
        Tensors, and a meta with ``dataset_meta`` (classes, aliases), ``cfg``
        (config text) and the other header values.

    Raises:
        FileNotFoundError: No such file.
        CorruptCheckpointError: Not a readable safetensors file.
    """
    from safetensors import SafetensorError, safe_open
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path}')
    try:
        with safe_open(path, framework='pt', device='cpu') as file:
            header = file.metadata() or {}
            tensors = {key: file.get_tensor(key) for key in file.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise CorruptCheckpointError(
            f'Checkpoint {path} is not a readable safetensors file '
            f'({error}). Re-export it with tools/deploy/publish_model.py.'
        ) from None
    return dict(state_dict=tensors, meta=_meta_from_header(header))


def _meta_from_header(header: Dict[str, str]) -> Dict[str, Any]:
    values = {key: _decode(value) for key, value in header.items()
              if key not in ('config', 'format')}
    dataset_meta = {key: values.pop(key) for key in ('classes', 'aliases')
                    if key in values}
    meta: Dict[str, Any] = dict(dataset_meta=dataset_meta, **values)
    if header.get('config'):
        meta['cfg'] = header['config']
    return meta


def header_of(path: str) -> Optional[Dict[str, str]]:
    """The raw metadata header of a safetensors file (None if unreadable).

    Args:
        path: The file.

    Returns:
        Its string-to-string metadata.
    """
    from safetensors import safe_open
    try:
        with safe_open(path, framework='pt', device='cpu') as file:
            return file.metadata() or {}
    except Exception:  # any unreadable file: the caller reports it
        return None
