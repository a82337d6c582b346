"""Load weights for use only when they fit the model and its config.

Every fruit_ext entry point that loads weights for inference, export or
publishing goes through :func:`build_model` (or :func:`load_checked`), and
:func:`install_checked_get_model` makes mmpretrain's own ``get_model`` (hence
``inference_model`` and ``ImageClassificationInferencer`` by name) do the
same for local checkpoint files. A checkpoint that does not fit is refused
with :class:`~fruit_ext.engine.checkpoint_fit.CheckpointMismatchError`
naming the file, what it holds and what the config expects; for a model-index
name the message says which indexed name fits the checkpoint.
"""
import logging
import os
import os.path as osp
from typing import Any, Dict, Optional, Union

import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmengine.runner.checkpoint import \
    load_checkpoint as _original_load_checkpoint

from ..compat._log import log_once
from ..compat.checkpoint import CorruptCheckpointError, safe_torch_load
from ..engine.checkpoint_fit import (CheckpointMismatchError, _backbone_of,
                                     _meta_config,
                                     check_checkpoint_fits,
                                     check_checkpoint_matches_config,
                                     describe_checkpoint, head_classes,
                                     input_size)
from ..compat.safetensors_format import is_safetensors, read_safetensors
from .calibrated_head import attach_calibration

ModelSpec = Union[str, Config]


def read_checkpoint(path: str) -> Dict[str, Any]:
    """Read a ``.pth`` (weights-only unless trusted) or ``.safetensors``.

    Args:
        path: Local checkpoint file.

    Returns:
        ``{'state_dict': {...}, 'meta': {...}}`` (a bare state dict gets an
        empty ``meta``).

    Raises:
        FileNotFoundError: No such file.
        CorruptCheckpointError: Not a checkpoint (the message says what the
            file is instead).
    """
    if is_safetensors(path):
        return read_safetensors(path)
    checkpoint = safe_torch_load(path, map_location='cpu')
    if isinstance(checkpoint, dict) and isinstance(
            checkpoint.get('state_dict'), dict):
        checkpoint.setdefault('meta', {})
        return checkpoint
    if isinstance(checkpoint, dict) and checkpoint and all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return dict(state_dict=checkpoint, meta={})
    raise CorruptCheckpointError(
        f'Checkpoint {path} holds a {type(checkpoint).__name__} without a '
        '"state_dict" of tensors, not model weights. Pass a checkpoint '
        'written by training (epoch_N.pth, best.pth) or by '
        'tools/deploy/publish_model.py.')


def _index_suggestion(meta: dict) -> Optional[str]:
    """The model-index name whose config matches the checkpoint's."""
    from mmpretrain.apis import ModelHub

    from .model_index import registered_models
    saved = _meta_config(meta)
    if saved is None:
        return None
    for name in registered_models():
        cfg = ModelHub.get(name).config
        if _backbone_of(cfg) == _backbone_of(saved) and \
                input_size(cfg) == input_size(saved):
            return name
    return None


def check_index_name(meta: dict, cfg: Config, name: str,
                     source: str) -> None:
    """Refuse a checkpoint whose training config is not that of ``name``.

    A model-index name promises a config: a checkpoint trained at another
    input size or with another backbone would answer differently from its
    training. The message names the indexed model that does match.

    Args:
        meta: The checkpoint's meta (``cfg`` is its training config).
        cfg: The config behind ``name``.
        name: Model-index name.
        source: Checkpoint file, for the message.

    Raises:
        CheckpointMismatchError: Input size or backbone differ.
    """
    saved = _meta_config(meta)
    if saved is None:
        return
    size_old, size_new = input_size(saved), input_size(cfg)
    if _backbone_of(saved) == _backbone_of(cfg) and size_old == size_new:
        return
    suggestion = _index_suggestion(meta)
    fix = (f"use the name '{suggestion}', which matches it" if suggestion
           else 'no indexed model matches it: use its config or work dir '
           'with fruit_ext.apis.init_model')
    raise CheckpointMismatchError(
        f'Checkpoint {source} ({describe_checkpoint(meta=meta, state_dict={})}'
        f') was not trained with the config of model-index name {name!r} '
        f'({size_new} px input, {_backbone_of(cfg).get("type")}): its '
        f'answers would differ from training. Instead, {fix}.')


def load_checked(model: torch.nn.Module,
                 cfg: Optional[Config],
                 checkpoint: str,
                 *,
                 index_name: Optional[str] = None,
                 evaluating: bool = False) -> dict:
    """Load a checkpoint into ``model`` after checking that it fits.

    Args:
        model: Model built from ``cfg``.
        cfg: Its config (None: only the tensors are checked).
        checkpoint: Local ``.pth`` or ``.safetensors`` file.
        index_name: The model-index name the model was built from, if any.
        evaluating: Labels come from the config's dataset (class names
            must then agree with the checkpoint's).

    Returns:
        The checkpoint's ``meta``.

    Raises:
        CheckpointMismatchError: The checkpoint does not fit.
    """
    loaded = read_checkpoint(checkpoint)
    meta = loaded.get('meta') or {}
    check_checkpoint_fits(model, loaded['state_dict'], checkpoint, meta=meta)
    if index_name:
        check_index_name(meta, cfg, index_name, checkpoint)
    if cfg is not None:
        check_checkpoint_matches_config(meta, cfg, checkpoint,
                                        evaluating=evaluating)
    _load_checkpoint_to_model(model, loaded, strict=False)
    # the stored temperature / "unknown" threshold, applied by the head
    attach_calibration(model, meta.get('calibration'), checkpoint)
    dataset_meta = meta.get('dataset_meta') or (
        {'classes': meta['CLASSES']} if meta.get('CLASSES') else None)
    if dataset_meta:
        _check_class_count(model, dataset_meta, checkpoint)
        model._dataset_meta = dataset_meta
    return meta


def _check_class_count(model: torch.nn.Module, dataset_meta: dict,
                       source: str) -> None:
    """Refuse class names that do not match the head's outputs."""
    names = dataset_meta.get('classes') or []
    rows = head_classes(model.state_dict())
    if names and rows is not None and rows != len(names):
        raise CheckpointMismatchError(
            f'Checkpoint {source} lists {len(names)} class names in '
            f'meta.dataset_meta but its head has {rows} outputs, so labels '
            'and names cannot be matched. Use the checkpoint as its training '
            'run wrote it.')


def _index_name(model: Any) -> Optional[str]:
    if isinstance(model, str) and not model.endswith('.py') and \
            not osp.exists(model):
        return model
    return None


def _is_local(pretrained: Any) -> bool:
    return isinstance(pretrained, (str, os.PathLike)) and \
        '://' not in str(pretrained)


def build_model(model: ModelSpec,
                checkpoint: Optional[str] = None,
                device: Union[str, torch.device, None] = 'cpu',
                *,
                evaluating: bool = False,
                **kwargs) -> torch.nn.Module:
    """Build a model (config, config file or index name) and load checked.

    Args:
        model: Config, config file or model-index name.
        checkpoint: Local ``.pth``/``.safetensors`` file, a URL (loaded by
            mmpretrain unchecked), or None for random weights.
        device: Where to put the model.
        evaluating: See :func:`load_checked`.
        **kwargs: Model config overrides, as for ``mmpretrain.get_model``.

    Returns:
        The model in eval mode, with ``_config`` and ``_dataset_meta``.
    """
    if checkpoint and not _is_local(checkpoint):
        return _original_get_model(model, checkpoint, device=device, **kwargs)
    built = _original_get_model(model, False, device=None, **kwargs)
    if checkpoint:
        load_checked(built, built._config, str(checkpoint),
                     index_name=_index_name(model), evaluating=evaluating)
    if device is not None:
        built.to(device)
    return built.eval()


def _checked_get_model(model: ModelSpec,
                       pretrained: Union[str, bool] = False,
                       device=None,
                       device_map=None,
                       offload_folder=None,
                       url_mapping=None,
                       **kwargs) -> torch.nn.Module:
    """mmpretrain's ``get_model``, with local checkpoints checked first."""
    if not _is_local(pretrained) or device_map is not None or url_mapping:
        return _original_get_model(model, pretrained, device, device_map,
                                   offload_folder, url_mapping, **kwargs)
    return build_model(model, str(pretrained), device, **kwargs)


def _checked_load_checkpoint(model: torch.nn.Module, filename: str,
                             map_location: Any = None, **kwargs) -> dict:
    """mmengine's ``load_checkpoint`` for a built model, checked first."""
    if not _is_local(filename):
        return _original_load_checkpoint(model, filename, map_location,
                                         **kwargs)
    meta = load_checked(model, getattr(model, '_config', None),
                        str(filename))
    return dict(meta=meta)


def install_checked_get_model() -> None:
    """Make mmpretrain's ``get_model`` check local checkpoints (idempotent).

    Covers ``mmpretrain.get_model``, ``mmpretrain.apis.get_model``, the
    inferencers (``inference_model``, ``ImageClassificationInferencer``, by
    name or with a built model) and ``mmpretrain.apis.init_model``.
    """
    import mmpretrain
    import mmpretrain.apis as apis
    from mmpretrain.apis import base, model
    for module in (mmpretrain, apis, base, model):
        if getattr(module, 'get_model', None) is _original_get_model:
            module.get_model = _checked_get_model
    # ImageClassificationInferencer(built_model, pretrained=file)
    if base.load_checkpoint is _original_load_checkpoint:
        base.load_checkpoint = _checked_load_checkpoint
    log_once('checked-get-model', 'mmpretrain.get_model checks that local '
             'checkpoints fit the model and its config before loading them',
             logging.DEBUG)


def _original():
    from mmpretrain.apis import model
    found = model.get_model
    return getattr(found, '__wrapped_original__', found)


_original_get_model = _original()
_checked_get_model.__wrapped_original__ = _original_get_model

__all__ = ['read_checkpoint', 'load_checked', 'build_model',
           'check_index_name', 'install_checked_get_model',
           'CheckpointMismatchError']
