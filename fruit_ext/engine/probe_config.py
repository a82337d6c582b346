"""Linear probes of mmengine configs: the data, the model, the report."""
import copy
import functools
import logging
import os.path as osp
import time
from typing import Dict, Optional, Sequence, Union

import torch.nn as nn
from mmengine.config import Config, ConfigDict

from .linear_probe import (DEFAULT_WEIGHT_DECAYS, ProbeResult, fit_probe,
                           head_macro_recall, head_top1)
from .probe_features import build_probe_loader, cached_features, \
    eval_dataset_cfg
from .resolve_config import resolve_config


@functools.lru_cache(maxsize=8)
def _metafile_index(package_path: str) -> Dict[str, dict]:
    """Config name -> model meta of a package's metafiles, read once."""
    from mmengine.fileio import load
    index = load(osp.join(package_path, '.mim', 'model-index.yml'))
    models = {}
    for meta_path in index['Import']:
        for model in load(osp.join(package_path, '.mim',
                                   meta_path))['Models']:
            if 'Config' in model:  # the first weights of a config win
                models.setdefault(model['Config'].partition('/')[-1], model)
    return models


def _cached_cfg_metainfo(package_path: str, cfg_path: str) -> dict:
    """mmengine's ``_get_cfg_metainfo``, the metafiles parsed once."""
    models = _metafile_index(package_path)
    if cfg_path not in models:  # a _base_ file: mmengine falls back to it
        raise ValueError(f'Expected configs: {models.keys()}, but got '
                         f'{cfg_path}')
    return models[cfg_path]


def read_external_configs_once() -> None:
    """Parse a package's metafiles once per process, not once per base.

    mmengine resolves every ``mmpretrain::_base_/...`` of a ``_base_``
    chain by parsing all of mmpretrain's ~85 metafile YAMLs first (to fall
    back to the base file when none names it): seconds of CPU per config
    read, most of the probe tool's start-up on a busy machine. Same result,
    read once.
    """
    import mmengine.config.utils as cfg_utils
    cfg_utils._get_cfg_metainfo = _cached_cfg_metainfo


def probe_loader(cfg: Config, split: str, batch_size: int = 64):
    """Ordered loader over a split of the config, with the val pipeline.

    Args:
        cfg: The config.
        split: 'train', 'val' or 'test' (its ``{split}_dataloader``).
        batch_size: Images per forward pass.

    Returns:
        A DataLoader, or None when the config has no such split.
    """
    loader_cfg = cfg.get(f'{split}_dataloader')
    if not loader_cfg:
        return None
    eval_loader = cfg.get('val_dataloader') or cfg.get('test_dataloader')
    pipeline = eval_loader['dataset']
    while 'pipeline' not in pipeline and 'dataset' in pipeline:
        pipeline = pipeline['dataset']  # a dataset wrapper
    pipeline = pipeline['pipeline']
    dataset_cfg = eval_dataset_cfg(loader_cfg['dataset'], pipeline)
    return build_probe_loader(dataset_cfg, batch_size,
                              loader_cfg.get('collate_fn'))


def probe_model(model: nn.Module, cfg: Config,
                cache_dir: Optional[str] = None,
                weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
                max_iter: int = 300, batch_size: int = 64,
                logger=None) -> ProbeResult:
    """Fit the probe of ``model`` on the config's train split, chosen on val.

    Args:
        model: The (unwrapped) classifier; not modified.
        cfg: Config with ``train_dataloader`` (and ``val_dataloader``).
        cache_dir: Feature cache folder (None: memory only).
        weight_decays: Grid chosen from on val.
        max_iter: L-BFGS iterations per fit.
        batch_size: Images per forward pass while extracting.
        logger: Optional logger for the feature-extraction lines.

    Returns:
        The fitted :class:`ProbeResult`.
    """
    features = {}
    for split in ('train', 'val'):
        loader = probe_loader(cfg, split, batch_size)
        if loader is None:
            continue
        start = time.perf_counter()
        features[split], hit = cached_features(model, loader, cache_dir)
        if logger is not None:
            logger.info(
                f'Linear probe: {len(features[split][1])} {split} features '
                f'{"from the cache" if hit else "extracted"} in '
                f'{time.perf_counter() - start:.1f} s')
    return fit_probe(model.head, features['train'], features.get('val'),
                     weight_decays=weight_decays, max_iter=max_iter)


def build_model(cfg: Config, checkpoint: Optional[str] = None) -> nn.Module:
    """Build the config's model, load ``checkpoint`` (or ``load_from``).

    Args:
        cfg: The config.
        checkpoint: Weights to load (non-strict: a head of another shape is
            left initialised); None for ``cfg.load_from``.

    Returns:
        The model on CPU, eval mode.
    """
    import fruit_ext  # noqa: F401  (registries, checkpoint fixes)
    from mmengine.logging import MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    scope = cfg.get('default_scope', 'mmpretrain')
    if DefaultScope.get_current_instance() is None and scope:
        DefaultScope.get_instance(f'probe-{id(cfg)}', scope_name=scope)
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') and 'data_preprocessor' not in model_cfg:
        model_cfg['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights lists every tensor
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    weights = checkpoint or cfg.get('load_from')
    if weights:
        load_checkpoint(model, weights, map_location='cpu', strict=False,
                        logger='silent')
    return model.eval()


def probe_config(config: Union[str, Config], checkpoint: Optional[str] = None,
                 cfg_options: Optional[dict] = None,
                 cache_dir: Optional[str] = None,
                 weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
                 max_iter: int = 300) -> Dict:
    """Probe a config end to end: val and, when separate, test figures.

    Args:
        config: Config path or object.
        checkpoint: Weights (default: the config's ``load_from``).
        cfg_options: Overrides merged into the config.
        cache_dir: Feature cache folder.
        weight_decays: Grid chosen from on val.
        max_iter: L-BFGS iterations per fit.

    Returns:
        ``{'val_top1', 'test_top1', 'test_macro_recall', 'weight_decay',
        'train_top1', 'seconds', 'result', 'model'}``; test figures are
        None when the test split is the val split or absent. ``model``
        holds the fitted head.
    """
    start = time.perf_counter()
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    cfg = copy.deepcopy(cfg)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    # data_root / classes given once reach every dataloader; classes size
    # the head, as FruitRunner does
    for line in resolve_config(cfg):
        logging.getLogger(__name__).info(line)
    model = build_model(cfg, checkpoint)
    result = probe_model(model, cfg, cache_dir, weight_decays, max_iter)
    model.head.load_state_dict(result.head_state)
    report = dict(val_top1=result.val_top1, test_top1=None,
                  test_macro_recall=None, weight_decay=result.weight_decay,
                  train_top1=result.train_top1, result=result, model=model)
    test_cfg = cfg.get('test_dataloader')
    if test_cfg and ConfigDict(test_cfg).to_dict() != \
            ConfigDict(cfg.get('val_dataloader') or {}).to_dict():
        feats, _ = cached_features(model, probe_loader(cfg, 'test'),
                                   cache_dir)
        report['test_top1'] = head_top1(model.head, *feats)
        report['test_macro_recall'] = head_macro_recall(model.head, *feats)
    report['seconds'] = time.perf_counter() - start
    return report


def default_cache_dir(cfg: Config) -> Optional[str]:
    """``{work_dir}/probe_cache`` when the config names a work dir."""
    work_dir = cfg.get('work_dir')
    return osp.join(work_dir, 'probe_cache') if work_dir else None
