"""One run of the calibration benchmark (calibration_real.py), in its process.

Trains the recipe with a real mmengine Runner, then writes the logits of the
val split and of the whole test file (plain and horizontally flipped input)
to ``logits.npz`` in the run's folder.
"""
import json
import os
import os.path as osp
import time
from typing import Tuple

import numpy as np

LOGITS = 'logits.npz'


def _test_loader(cfg, test_root: str):
    """All ten test-file classes, labels in sorted folder order."""
    import copy
    loader = copy.deepcopy(cfg.val_dataloader)
    loader.dataset = dict(type='CustomDataset', data_root=test_root,
                          data_prefix='', with_label=True,
                          pipeline=loader.dataset.pipeline)
    return loader


def collect_logits(model, loader) -> dict:
    """Logits of a loader's images, plain and horizontally flipped.

    Args:
        model: The classifier, in eval mode.
        loader: A built dataloader.

    Returns:
        ``logits``, ``flip_logits``, ``labels``, and seconds spent loading
        (``load_s``), in the plain forward (``plain_s``) and in the flipped
        one (``flip_s``).
    """
    import torch
    logits, flips, labels = [], [], []
    times = dict(load_s=0.0, plain_s=0.0, flip_s=0.0)
    start = time.perf_counter()
    with torch.no_grad():
        for data in loader:
            batch = model.data_preprocessor(data, False)
            mark = time.perf_counter()
            times['load_s'] += mark - start
            logits.append(model(batch['inputs'], mode='tensor').numpy())
            middle = time.perf_counter()
            flips.append(model(batch['inputs'].flip(3), mode='tensor').numpy())
            start = time.perf_counter()
            times['plain_s'] += middle - mark
            times['flip_s'] += start - middle
            labels += [int(s.gt_label[0]) for s in batch['data_samples']]
    return dict(logits=np.concatenate(logits), flip_logits=np.concatenate(
        flips), labels=np.array(labels), **times)


def run_one(task: Tuple[str, int, str, str]) -> dict:
    """Train one configuration, save its val and test logits.

    Args:
        task: (run name, seed, config path, root of the 10-class test file).

    Returns:
        ``{'name', 'seed', 'work_dir', ...}`` (``error`` on failure).
    """
    name, seed, config, test_root = task
    work_dir = osp.dirname(config)
    try:
        log = os.open(osp.join(work_dir, 'run.log'),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        import torch
        torch.set_num_threads(1)
        import fruit_ext  # noqa: F401
        from mmengine.config import Config
        from mmengine.runner import Runner
        cfg = Config.fromfile(config)
        load_start = os.getloadavg()[0]
        start = time.perf_counter()
        runner = Runner.from_cfg(cfg)
        runner.train()
        train_s = time.perf_counter() - start
        model = runner.model.eval()
        runner.save_checkpoint(work_dir, 'final.pth', save_optimizer=False,
                               save_param_scheduler=False)
        val = collect_logits(model, runner.val_dataloader)
        test_loader = runner.build_dataloader(_test_loader(cfg, test_root))
        test = collect_logits(model, test_loader)
        np.savez(osp.join(work_dir, LOGITS),
                 **{f'val_{k}': v for k, v in val.items()},
                 **{f'test_{k}': v for k, v in test.items()})
        result = dict(name=name, seed=seed, work_dir=work_dir,
                      classes=list(test_loader.dataset.metainfo['classes']),
                      train_s=round(train_s, 1), load_start=load_start,
                      load_end=os.getloadavg()[0])
        with open(osp.join(work_dir, 'result.json'), 'w') as file:
            json.dump(result, file)
        return result
    except Exception as error:  # noqa: BLE001  (reported, the others go on)
        return dict(name=name, seed=seed, work_dir=work_dir,
                    error=f'{type(error).__name__}: {error}')
