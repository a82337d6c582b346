"""Turn a training checkpoint into small files to share.

The published ``.pth`` holds only the weights and plain metadata (class
names, the training config's text, the calibration -- temperature, "unknown"
threshold -- when there is one), so it loads with
``torch.load(weights_only=True)``; the ``.safetensors`` beside it
holds the same tensors and metadata in the format that cannot run code. Both
are named by a hash of their *content* (tensors and class names), so the
same weights always get the same name.
"""
import hashlib
import json
import os
import os.path as osp
import tempfile
from typing import Any, Dict, Optional

import torch

from ..compat.checkpoint import safe_torch_load
from ..engine.checkpoint_fit import (CheckpointMismatchError, _meta_config,
                                     check_checkpoint_fits, head_classes)
from ..compat.safetensors_format import write_safetensors

#: Dataset metadata kept in a published checkpoint.
KEPT_META = ('classes', 'aliases')


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file.

    Args:
        path: File to hash.

    Returns:
        64 hex digits.
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for block in iter(lambda: file.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def content_hash(state_dict: Dict[str, torch.Tensor],
                 dataset_meta: Dict[str, Any],
                 calibration: Optional[Dict[str, Any]] = None) -> str:
    """Hex SHA-256 of tensors (names, dtypes, shapes, bytes), classes and
    calibration (so a calibrated copy never takes the plain one's name).

    Unlike a hash of the saved file, it does not depend on how or where the
    file was written: the same weights and class names give the same hash.

    Args:
        state_dict: Tensors.
        dataset_meta: Class names (and aliases).
        calibration: Temperature / "unknown" rule, or None.

    Returns:
        64 hex digits.
    """
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(f'{key}|{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    kept = {key: list(dataset_meta[key]) for key in KEPT_META
            if dataset_meta.get(key)}
    digest.update(json.dumps(kept, ensure_ascii=False,
                             sort_keys=True).encode('utf-8'))
    if calibration:
        digest.update(json.dumps(calibration, sort_keys=True).encode())
    return digest.hexdigest()


def check_self_consistent(state_dict: Dict[str, torch.Tensor], meta: dict,
                          source: str) -> None:
    """Refuse weights that do not fit their own training config or classes.

    Args:
        state_dict: The checkpoint's tensors.
        meta: Its meta (``cfg``: training config text; class names).
        source: File name for messages.

    Raises:
        CheckpointMismatchError: The class list and the head disagree, or the
            tensors do not fit the model of the stored config.
    """
    classes = meta['dataset_meta']['classes']
    rows = head_classes(state_dict)
    if rows is not None and rows != len(classes):
        raise CheckpointMismatchError(
            f'{source}: its head has {rows} classes but meta.dataset_meta '
            f'lists {len(classes)} class names; publish the checkpoint '
            'written by the training run as it is.')
    cfg = _meta_config(meta)
    if cfg is None:
        return
    from .checked_loading import _original_get_model
    try:
        model = _original_get_model(cfg, False, device=None)
    except Exception:  # a config this process cannot build: nothing to check
        return
    check_checkpoint_fits(model, state_dict, source, meta=meta)


def _published(checkpoint: Any, in_file: str) -> Dict[str, Any]:
    state_dict = checkpoint.get('state_dict') if isinstance(
        checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(f'{in_file}: no state_dict to publish')
    meta = checkpoint.get('meta') or {}
    dataset_meta = meta.get('dataset_meta') or {}
    if not dataset_meta.get('classes'):
        raise ValueError(
            f'{in_file}: no class names in meta.dataset_meta; publish a '
            'checkpoint written by a training run.')
    kept = {'dataset_meta': {key: list(dataset_meta[key])
                             for key in KEPT_META if dataset_meta.get(key)}}
    for key in ('cfg', 'temperature'):
        if isinstance(meta.get(key), (str, int, float)):
            kept[key] = meta[key]
    if isinstance(meta.get('calibration'), dict):  # plain JSON-like data
        kept['calibration'] = json.loads(json.dumps(meta['calibration']))
    tensors = {key: value.detach().cpu().contiguous()
               for key, value in state_dict.items()}
    check_self_consistent(tensors, kept, in_file)
    return {'state_dict': tensors, 'meta': kept}


def _write_atomic(out_file: str, write) -> None:
    handle, tmp_file = tempfile.mkstemp(
        suffix=osp.splitext(out_file)[1], dir=osp.dirname(out_file))
    os.close(handle)
    try:
        write(tmp_file)
        os.replace(tmp_file, out_file)
    finally:
        if osp.exists(tmp_file):
            os.remove(tmp_file)


def publish_files(in_file: str,
                  out_dir: str,
                  name: Optional[str] = None,
                  safetensors: bool = True) -> Dict[str, str]:
    """Write ``<name>-<hash>.pth`` (and ``.safetensors``) into ``out_dir``.

    Args:
        in_file: Training checkpoint (loaded weights-only unless trusted).
        out_dir: Folder for the results.
        name: File name stem; the input's stem by default.
        safetensors: Also write the ``.safetensors`` file.

    Returns:
        ``{'pth': path, 'safetensors': path}`` (the latter when written).

    Raises:
        ValueError: No ``state_dict``, no class names, or weights that do
            not fit their own config (:class:`CheckpointMismatchError`).
    """
    published = _published(safe_torch_load(in_file, map_location='cpu'),
                           in_file)
    digest = content_hash(published['state_dict'],
                          published['meta']['dataset_meta'],
                          published['meta'].get('calibration'))
    os.makedirs(out_dir, exist_ok=True)
    name = name or osp.splitext(osp.basename(in_file))[0]
    stem = osp.join(out_dir, f'{name}-{digest[:8]}')

    def save_pth(path: str) -> None:
        torch.save(published, path)
        torch.load(path, weights_only=True)  # proves it is plain data

    written = {'pth': f'{stem}.pth'}
    _write_atomic(written['pth'], save_pth)
    if safetensors:
        written['safetensors'] = f'{stem}.safetensors'
        _write_atomic(written['safetensors'], lambda path: write_safetensors(
            published['state_dict'], published['meta'], path))
    return written


def publish_checkpoint(in_file: str,
                       out_dir: str,
                       name: Optional[str] = None) -> str:
    """Keep only the weights and plain metadata, named by content hash.

    Optimizer, message hub, scheduler and EMA copies are dropped (when an EMA
    hook ran, ``state_dict`` already holds the averaged weights). The result
    loads with ``torch.load(path, weights_only=True)`` and with
    ``mmpretrain.get_model(config, pretrained=path)``.

    Args:
        in_file: Training checkpoint (loaded weights-only unless trusted, see
            :mod:`fruit_ext.compat.checkpoint`).
        out_dir: Folder for the result.
        name: File name stem; the input's stem by default.

    Returns:
        Path of ``<name>-<first 8 hex digits of the content hash>.pth``.

    Raises:
        ValueError: The file holds no ``state_dict`` or no class names.
    """
    return publish_files(in_file, out_dir, name, safetensors=False)['pth']
