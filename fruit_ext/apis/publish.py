"""Turn a training checkpoint into a small file to share."""
import hashlib
import os
import os.path as osp
import tempfile
from typing import Optional

import torch

from ..compat.checkpoint import safe_torch_load

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


def publish_checkpoint(in_file: str,
                       out_dir: str,
                       name: Optional[str] = None) -> str:
    """Keep only the weights and class names, named by content hash.

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
        Path of ``<name>-<first 8 hex digits of sha256>.pth``.

    Raises:
        ValueError: The file holds no ``state_dict`` or no class names.
    """
    checkpoint = safe_torch_load(in_file, map_location='cpu')
    state_dict = checkpoint.get('state_dict') if isinstance(
        checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(f'{in_file}: no state_dict to publish')
    dataset_meta = checkpoint.get('meta', {}).get('dataset_meta') or {}
    if not dataset_meta.get('classes'):
        raise ValueError(
            f'{in_file}: no class names in meta.dataset_meta; publish a '
            'checkpoint written by a training run.')
    published = {
        'state_dict': {key: value.detach().cpu().contiguous()
                       for key, value in state_dict.items()},
        'meta': {'dataset_meta': {key: list(dataset_meta[key])
                                  for key in KEPT_META
                                  if dataset_meta.get(key)}},
    }
    os.makedirs(out_dir, exist_ok=True)
    stem = name or osp.splitext(osp.basename(in_file))[0]
    handle, tmp_file = tempfile.mkstemp(suffix='.pth', dir=out_dir)
    os.close(handle)
    try:
        torch.save(published, tmp_file)
        torch.load(tmp_file, weights_only=True)  # proves it is plain data
        out_file = osp.join(out_dir, f'{stem}-{sha256_of(tmp_file)[:8]}.pth')
        os.replace(tmp_file, out_file)
    finally:
        if osp.exists(tmp_file):
            os.remove(tmp_file)
    return out_file
