"""Frozen-backbone features for linear probes, computed once and cached.

A probe needs the pre-logits features of every training (and val) image
under the evaluation pipeline. They depend only on the backbone and neck
weights, the data preprocessor, the images and the pipeline, so they are
cached under a key made of those four: in memory for the process and, with a
cache folder, as ``{key}.pt`` files (plain tensors, loadable with
``weights_only=True``). A fine-tuned model or another image list gets
another key, never stale features.
"""
import copy
import hashlib
import json
import os
import os.path as osp
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dataset import pseudo_collate
from mmengine.registry import FUNCTIONS
from mmpretrain.registry import DATASETS
from torch.utils.data import DataLoader

Features = Tuple[torch.Tensor, torch.Tensor]  # (N, D) float32, (N,) int64

_MEMORY: Dict[str, Features] = {}
_MEMORY_SIZE = 8


def eval_dataset_cfg(dataset_cfg: dict, pipeline: list) -> dict:
    """A dataset config with its pipeline replaced (wrappers unwrapped).

    Args:
        dataset_cfg: ``dataloader.dataset`` config; a dataset wrapper
            (``RepeatDataset``, ``ClassBalancedDataset``...) is replaced by
            the dataset it wraps, so every image counts once.
        pipeline: The transforms to use, normally the val pipeline.

    Returns:
        A new config dict.
    """
    cfg = copy.deepcopy(dict(dataset_cfg))
    while 'pipeline' not in cfg and isinstance(cfg.get('dataset'), dict):
        cfg = copy.deepcopy(dict(cfg['dataset']))
    cfg['pipeline'] = copy.deepcopy(list(pipeline))
    return cfg


def build_probe_loader(dataset_cfg: dict, batch_size: int = 64,
                       collate_cfg: Optional[dict] = None,
                       num_workers: int = 0) -> DataLoader:
    """An ordered, non-distributed loader over one whole dataset.

    Args:
        dataset_cfg: Dataset config (see :func:`eval_dataset_cfg`).
        batch_size: Images per forward pass.
        collate_cfg: The config's ``collate_fn``; mmengine's
            ``pseudo_collate`` when None.
        num_workers: Loader worker processes.

    Returns:
        A DataLoader; its ``dataset`` is the built dataset.
    """
    dataset = DATASETS.build(copy.deepcopy(dataset_cfg))
    collate = pseudo_collate
    if collate_cfg:
        collate = FUNCTIONS.get(dict(collate_cfg)['type'])
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=collate)
    # for the cache key: transform objects' reprs may hold addresses
    loader.pipeline_cfg = copy.deepcopy(list(dataset_cfg.get('pipeline', [])))
    return loader


def _tensor_digest(digest, tensors) -> None:
    for name, tensor in tensors:
        digest.update(name.encode())
        data = tensor.detach().cpu().contiguous()
        if data.dtype == torch.bfloat16:
            data = data.float()
        digest.update(data.numpy().tobytes())


def feature_key(model: nn.Module, loader: DataLoader) -> str:
    """Cache key: weights (head excluded), preprocessor, images, pipeline.

    Args:
        model: An mmpretrain ``ImageClassifier`` (unwrapped).
        loader: The loader of :func:`build_probe_loader` (its pipeline
            config is hashed; other loaders: the pipeline's repr).

    Returns:
        A hex digest.
    """
    digest = hashlib.sha256()
    _tensor_digest(digest, [(k, v) for k, v in model.state_dict().items()
                            if not k.startswith('head.')])
    preprocessor = model.data_preprocessor
    _tensor_digest(digest, [(name, getattr(preprocessor, name))
                            for name in ('mean', 'std')
                            if getattr(preprocessor, name, None) is not None])
    digest.update(repr(getattr(preprocessor, 'to_rgb', None)).encode())
    dataset = loader.dataset
    items = [(info.get('img_path'), int(info.get('gt_label', -1)))
             for info in (dataset.get_data_info(i)
                          for i in range(len(dataset)))]
    digest.update(json.dumps(items).encode())
    pipeline = getattr(loader, 'pipeline_cfg', None)
    digest.update((json.dumps(pipeline, sort_keys=True, default=str)
                   if pipeline is not None else
                   repr(getattr(dataset, 'pipeline', None))).encode())
    return digest.hexdigest()[:24]


@torch.no_grad()
def extract_features(model: nn.Module, loader: DataLoader) -> Features:
    """Pre-logits features of every image, the model in eval mode.

    Args:
        model: An mmpretrain ``ImageClassifier`` (unwrapped); its train/eval
            mode is restored afterwards.
        loader: Loader of images with ground-truth labels.

    Returns:
        (N, D) float32 features on CPU, (N,) int64 labels.
    """
    was_training = model.training
    model.eval()
    feats, labels = [], []
    try:
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            pre_logits = model.head.pre_logits(
                model.extract_feat(data['inputs']))
            feats.append(pre_logits.float().cpu())
            labels += [int(sample.gt_label) for sample in data['data_samples']]
    finally:
        model.train(was_training)
    return torch.cat(feats), torch.tensor(labels, dtype=torch.int64)


def cached_features(model: nn.Module, loader: DataLoader,
                    cache_dir: Optional[str] = None) -> Tuple[Features, bool]:
    """:func:`extract_features`, from the cache when the key matches.

    Args:
        model: An mmpretrain ``ImageClassifier`` (unwrapped).
        loader: Ordered loader (:func:`build_probe_loader`).
        cache_dir: Folder of ``{key}.pt`` files; None for memory only.

    Returns:
        ((features, labels), whether they came from a cache).
    """
    key = feature_key(model, loader)
    if key in _MEMORY:
        return _MEMORY[key], True
    path = osp.join(cache_dir, f'{key}.pt') if cache_dir else None
    if path and osp.isfile(path):
        stored = torch.load(path, map_location='cpu', weights_only=True)
        result, hit = (stored['feats'], stored['labels']), True
    else:
        result, hit = extract_features(model, loader), False
        if path:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = f'{path}.{os.getpid()}.tmp'
            torch.save(dict(feats=result[0], labels=result[1]), tmp)
            os.replace(tmp, path)  # atomic: concurrent runs never see halves
    if len(_MEMORY) >= _MEMORY_SIZE:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = result
    return result, hit
