"""One run of the real-photo benchmark (finetune_real.py), in its process."""
import json
import os
import os.path as osp
import time
from typing import Tuple

from common import macro_recall, probe_cache

RESULT = 'result.json'  # a finished run's figures, in its work dir
PROBE_ONLY = {'effl0_lp'}  # fitted, not trained


def _probe_run(cfg) -> dict:
    """``effl0_lp``: fit the probe, evaluate it on val and test."""
    from fruit_ext.engine import probe_config
    report = probe_config(cfg, cache_dir=probe_cache(cfg.work_dir))
    result = report['result']
    return dict(val_top1=result.val_top1, val_macro_recall=None,
                top1=report['test_top1'],
                macro_recall=report['test_macro_recall'],
                weight_decay=result.weight_decay)


def _train_run(cfg) -> dict:
    """Train with a Runner, evaluate on val and test."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    # the loops themselves, not runner.val()/test(): those call before_run
    # hooks again, and EMAHook's would reset the averaged weights
    val = runner.val_loop.run()
    figures = dict(val_top1=val['accuracy/top1'],
                   val_macro_recall=macro_recall(osp.join(
                       cfg.work_dir, 'eval_report', 'last', 'per_class.csv')))
    if cfg.get('test_dataloader'):
        figures.update(
            top1=runner.test_loop.run()['accuracy/top1'],
            macro_recall=macro_recall(osp.join(
                cfg.work_dir, 'eval_report', 'test', 'per_class.csv')))
    for hook in runner.hooks:
        if type(hook).__name__ == 'LinearProbeHook' and hook.summary:
            figures.update(probe_val_top1=hook.summary['val_top1'],
                           finetuned_val_top1=hook.finetuned_val,
                           kept=hook.kept or 'fine-tuned', alpha=hook.alpha)
    return figures


def run_safely(task: Tuple[str, int, str]) -> dict:
    """:func:`run_one`; a failure is returned, the other runs go on.

    Args:
        task: (run name, seed, config path).

    Returns:
        The run's figures, or ``{'name', 'seed', 'error'}``.
    """
    try:
        return run_one(task)
    except Exception as error:  # noqa: BLE001  (reported, not hidden)
        return dict(name=task[0], seed=task[1], config=task[2],
                    error=f'{type(error).__name__}: {error}')


def run_one(task: Tuple[str, int, str]) -> dict:
    """Train (or probe) one configuration, evaluate on val and test.

    Runs in a fresh process (one task per worker process).

    Args:
        task: (run name, seed, config path).

    Returns:
        The run's figures, also written to ``result.json`` in its folder.
    """
    name, seed, config = task
    log = os.open(osp.join(osp.dirname(config), 'run.log'),
                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)  # the Runner's log goes to the run's folder
    os.dup2(log, 2)
    import torch
    torch.set_num_threads(1)
    import fruit_ext  # noqa: F401
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    start = time.perf_counter()
    load_start = os.getloadavg()[0]
    figures = _probe_run(cfg) if name in PROBE_ONLY else _train_run(cfg)
    setting = osp.basename(osp.dirname(cfg.work_dir))
    result = dict(name=name, seed=seed, setting=setting,
                  train_s=round(time.perf_counter() - start, 1),
                  load_start=load_start, load_end=os.getloadavg()[0],
                  **figures)
    with open(osp.join(cfg.work_dir, RESULT), 'w') as file:
        json.dump(result, file)
    return result
