#!/usr/bin/env python
"""Compare fine-tuning recipes on real photos (Fashion-MNIST) on a 2-core CPU.

Every run trains with a real mmengine Runner on the same exported images, at
the same image size, epochs and batch size, then evaluates on the held-out
val split (drawn from the 60,000-image train file) and on the 10,000-image
test file (never used for tuning; by default all of it). Rows:

* ``effl0_lp``: the linear probe alone (frozen ImageNet EfficientNet-Lite0,
  head fitted by L-BFGS, weight decay chosen on val; no training loop);
* ``effl0_lpft``: configs/efficientnet-lite0_fruit.py, the recipe: LP-FT
  (``LinearProbeHook`` fits that probe, then everything is fine-tuned);
* ``effl0_course``: the course recipe on the same ImageNet weights;
* ``effl0_ft``: the recipe with the old stage 1 (head trained for one frozen
  epoch, ``BackboneFreezeHook``) instead of the probe;
* ``mbv2_course`` vs ``mbv2_ft``: MobileNetV2 from scratch with
  configs/mobilenet-v2_fruit.py vs configs/mobilenet-v2_fruit_ft.py;
* ``effl0_ft_scratch``: the recipe without ImageNet weights;
* ``effl0_ft_cosine``: ``effl0_ft`` with ``CosineClsHead``;
* ``effl0_ft_imb`` vs ``effl0_ft_imb_cb``: a 10:1 long-tailed training set,
  without (beta 0) and with class-balanced loss weights.

Each setting (``--settings SIZE:IMAGES_PER_CLASS``, e.g. ``64:50 224:50``)
runs every row for every seed. From-scratch runs drop the choices that only
make sense for pretrained weights (probe, frozen epoch, backbone LR x 0.3).
Runs are interleaved seed by seed, so machine load hits every configuration
alike; each run writes ``result.json`` in its folder (an interrupted call
keeps them), all land in ``WORK/results.json`` and a Markdown table, which
``--write-docs`` puts in docs/benchmarks.md. Sizes above 128 px are tested on
a fixed stratified subset of the test file (``--large-test-per-class``).

Example (about an hour on 2 cores shared with other jobs)::

    python tools/benchmark/finetune_real.py --write-docs
"""
import argparse
import copy
import json
import multiprocessing
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import (REPO, export, fixed_test_subset,  # noqa: E402
                    probe_cache, report, resize_pipeline, set_data,
                    write_docs)
from finetune_report import markdown  # noqa: E402
from finetune_runs import RESULT, run_safely  # noqa: E402

__all__ = ['resize_pipeline', 'write_docs', 'build_config', 'parse_args']

CONVERT = osp.join(REPO, 'tools', 'model_converters', 'efficientnet_lite0.py')
CALLS = 'calls.json'  # wall time of each call that trained runs

COURSE = 'configs/mobilenet-v2_fruit.py'
FT = 'configs/mobilenet-v2_fruit_ft.py'
EFF_FT = 'configs/efficientnet-lite0_fruit.py'
EFFNET = dict(
    model=dict(backbone=dict(_delete_=True, type='TIMMBackbone',
                             model_name='tf_efficientnet_lite0',
                             pretrained=False)),
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3))
OLD_STAGE1 = dict(type='BackboneFreezeHook', freeze=1)

#: name: (config, overrides, imbalanced data, ImageNet weights, scratch-ft)
RUNS: Dict[str, Tuple[str, dict, bool, bool, bool]] = {
    'effl0_lp': (EFF_FT, {}, False, True, False),
    'effl0_lpft': (EFF_FT, {}, False, True, False),
    'effl0_course': (COURSE, EFFNET, False, True, False),
    'effl0_ft': (EFF_FT, {}, False, True, False),
    'mbv2_course': (COURSE, {}, False, False, False),
    'mbv2_ft': (FT, {}, False, False, True),
    'effl0_ft_scratch': (EFF_FT, {}, False, False, True),
    'effl0_ft_cosine': (EFF_FT, dict(model=dict(head=dict(
        type='CosineClsHead'))), False, True, False),
    'effl0_ft_imb': (EFF_FT, dict(model=dict(head=dict(loss=dict(
        beta=0.0)))), True, True, False),
    'effl0_ft_imb_cb': (EFF_FT, {}, True, True, False),
}
#: runs whose stage 1 is the old frozen epoch instead of the probe
OLD_FT = {'effl0_ft', 'effl0_ft_cosine', 'effl0_ft_imb', 'effl0_ft_imb_cb'}
DEFAULT_RUNS = ['effl0_lp', 'effl0_lpft', 'effl0_course']
#: (label, baseline, candidate, metric)
COMPARISONS = [
    ('LP-FT recipe vs linear probe', 'effl0_lp', 'effl0_lpft', 'top1'),
    ('LP-FT recipe vs course recipe', 'effl0_course', 'effl0_lpft', 'top1'),
    ('linear probe vs course recipe', 'effl0_course', 'effl0_lp', 'top1'),
    ('LP-FT vs the recipe with a 1-epoch frozen head', 'effl0_ft',
     'effl0_lpft', 'top1'),
    ('MobileNetV2 from scratch: fine-tuning recipe vs course recipe',
     'mbv2_course', 'mbv2_ft', 'top1'),
    ('EfficientNet-Lite0, fine-tuning recipe: cosine head vs linear head',
     'effl0_ft', 'effl0_ft_cosine', 'top1'),
    ('10:1 imbalanced: class-balanced loss vs plain (macro recall)',
     'effl0_ft_imb', 'effl0_ft_imb_cb', 'macro_recall'),
]


def _hooks(cfg, name: str, scratch_ft: bool) -> List[dict]:
    """The run's custom hooks: stage 1 as the row says, an eval report."""
    hooks = [hook for hook in cfg.get('custom_hooks', [])
             if hook['type'] != 'EvalReportHook']
    if scratch_ft or name in OLD_FT:
        hooks = [h for h in hooks if h['type'] not in (
            'LinearProbeHook', 'BackboneFreezeHook')]
    if name in OLD_FT and not scratch_ft:
        hooks.append(copy.deepcopy(OLD_STAGE1))
    for hook in hooks:
        if hook['type'] == 'LinearProbeHook':  # one cache for all runs
            hook['cache_dir'] = probe_cache(cfg.work_dir)
    return hooks + [dict(type='EvalReportHook')]


def _pilot_override(cfg, override: Optional[str]) -> None:
    """Merge a pilot variant's JSON into the config (tuning on val only).

    The key ``probe_hook`` updates ``LinearProbeHook``'s arguments.
    """
    if not override:
        return
    override = json.loads(override)
    for hook in cfg.custom_hooks:
        if hook['type'] == 'LinearProbeHook':
            hook.update(override.pop('probe_hook', {}))
    cfg.merge_from_dict(override)


def build_config(name: str, data_root: str, work_dir: str, seed: int,
                 args: argparse.Namespace,
                 test_root: Optional[str] = None) -> str:
    """Write the config of one run and return its path.

    Args:
        name: Key of :data:`RUNS`.
        data_root: Exported dataset root (train, val and test splits).
        work_dir: The run's work dir.
        seed: Random seed.
        args: Benchmark arguments (size, epochs, batch, checkpoint).
        test_root: Dataset root of the test split (default: ``data_root``).

    Returns:
        Path of the written config.
    """
    from mmengine.config import Config
    config, overrides, _, pretrained, scratch_ft = RUNS[name]
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(copy.deepcopy(overrides))  # merging consumes _delete_
    cfg.load_from = osp.abspath(args.checkpoint) if pretrained else None
    cfg.work_dir = work_dir
    cfg.custom_hooks = _hooks(cfg, name, scratch_ft)
    _pilot_override(cfg, getattr(args, 'override', None))
    if scratch_ft:  # random init: no probe, nothing slow (lr as tuned for
        # training from scratch, docs/finetune.md)
        cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult = 1.0
        cfg.optim_wrapper.optimizer.lr = 3e-3
    set_data(cfg, data_root, test_root or data_root, args)
    cfg.data_preprocessor.num_classes = 10
    cfg.model.head.num_classes = 10
    # validate after the last epoch: LinearProbeHook compares it with the
    # probe and keeps the better model
    cfg.train_cfg.update(max_epochs=args.epochs, val_interval=args.epochs)
    for scheduler in cfg.param_scheduler if isinstance(
            cfg.param_scheduler, list) else [cfg.param_scheduler]:
        if scheduler['type'] == 'CosineAnnealingLR':
            scheduler['end'] = args.epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                        save_last=False, save_best=None)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.randomness = dict(seed=seed, deterministic=False)
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'config.py')
    cfg.dump(path)
    return path


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/finetune_real',
                        help='folder for the data, runs and results')
    parser.add_argument('--source', help='Fashion-MNIST IDX folder '
                        '(default: the Debian package location)')
    parser.add_argument('--checkpoint',
                        default='checkpoints/efficientnet-lite0_in1k.pth',
                        help='converted EfficientNet-Lite0 (made if missing)')
    parser.add_argument('--runs', nargs='+', default=DEFAULT_RUNS,
                        choices=list(RUNS), help='recipes to run')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2],
                        help='seeds, one run of each recipe per seed')
    parser.add_argument('--settings', nargs='+',
                        default=['64:50', '224:50:5:effl0_lp+effl0_lpft',
                                 '64:200::effl0_lp+effl0_lpft'],
                        help='SIZE:TRAIN_IMAGES_PER_CLASS[:EPOCHS[:RUN+RUN]]'
                        ' (defaults: --epochs, --runs)')
    parser.add_argument('--size', type=int, default=64,
                        help='(set per setting)')
    parser.add_argument('--epochs', type=int, default=5,
                        help='training epochs per run')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='images per batch')
    parser.add_argument('--train-per-class', type=int, default=50,
                        help='(set per setting)')
    parser.add_argument('--val-per-class', type=int, default=50,
                        help='validation images per class')
    parser.add_argument('--test-per-class', type=int, default=1000,
                        help='from the test file; 1000 is all of it')
    parser.add_argument('--large-test-per-class', type=int, default=100,
                        help='fixed test subset above 128 px (0: full)')
    parser.add_argument('--imbalance', type=float, default=10.0,
                        help='largest / smallest training class')
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs in parallel (1 thread each)')
    parser.add_argument('--override', help='pilot tuning: JSON merged into '
                        "every run's config (key probe_hook: LinearProbeHook "
                        'arguments); use with --test-per-class 0')
    parser.add_argument('--rerun', action='store_true',
                        help='train again runs finished by an earlier call '
                        '(default: reuse their result.json)')
    parser.add_argument('--setting-major', action='store_true',
                        help='all seeds of the first setting first '
                        '(default: seed by seed over the settings)')
    parser.add_argument('--report-only', action='store_true',
                        help='only tabulate runs finished earlier')
    parser.add_argument('--write-docs', action='store_true',
                        help='put the tables into docs/benchmarks.md')
    return parser.parse_args(argv)


def _setting_args(args: argparse.Namespace, setting: str):
    """Arguments of one ``SIZE:IMAGES_PER_CLASS[:EPOCHS[:RUN+RUN...]]``."""
    parts = setting.split(':')
    epochs = int(parts[2]) if len(parts) > 2 and parts[2] else args.epochs
    runs = parts[3].split('+') if len(parts) > 3 else args.runs
    unknown = set(runs) - set(RUNS)
    if unknown:
        raise SystemExit(f'--settings {setting}: unknown runs {unknown}')
    return argparse.Namespace(**dict(
        vars(args), size=int(parts[0]), train_per_class=int(parts[1]),
        epochs=epochs, runs=[name for name in args.runs if name in runs]
        if len(parts) <= 3 else runs))


def plan(args: argparse.Namespace, root: str):
    """Tasks to run and results already there, interleaved seed by seed.

    Args:
        args: Benchmark arguments.
        root: Benchmark work dir.

    Returns:
        (tasks, finished results).
    """
    tasks, results = [], []
    pairs = [(seed, setting) for seed in args.seeds
             for setting in args.settings]  # an early stop covers settings
    if args.setting_major:  # one setting's seeds first
        pairs.sort(key=lambda pair: args.settings.index(pair[1]))
    for seed, setting in pairs:
        sargs = _setting_args(args, setting)
        tag = (f's{sargs.size}_n{sargs.train_per_class}'
               f'_e{sargs.epochs}')
        for name in sargs.runs:
            work_dir = osp.join(root, 'runs', tag, f'{name}_seed{seed}')
            done = osp.join(work_dir, RESULT)
            if osp.isfile(done) and not args.rerun:
                with open(done) as file:  # finished by an earlier call
                    results.append(json.load(file))
                continue
            data = export(root, seed, RUNS[name][2], sargs)
            test_root = data
            if sargs.size > 128 and args.large_test_per_class and \
                    args.test_per_class:  # pilot runs have no test split
                test_root = fixed_test_subset(
                    data, osp.join(root, 'data', 'test_fixed_'
                                   f'{args.large_test_per_class}'),
                    args.large_test_per_class)
            tasks.append((name, seed, build_config(
                name, data, work_dir, seed, sargs, test_root)))
    return tasks, results


def main() -> None:
    """Export data, run every configuration, setting and seed, report."""
    args = parse_args()
    root = osp.abspath(args.work_dir)
    if not osp.isfile(args.checkpoint):
        subprocess.run([sys.executable, CONVERT, args.checkpoint], check=True)
    tasks, results = plan(args, root)
    if args.report_only:  # tables of the finished runs, nothing trained
        tasks = []
    from rich.progress import Progress
    start = time.perf_counter()
    calls_path = osp.join(root, CALLS)
    calls = []
    if osp.isfile(calls_path):
        with open(calls_path) as file:
            calls = json.load(file)
    context = multiprocessing.get_context('spawn')
    with Progress() as progress, context.Pool(
            args.jobs, maxtasksperchild=1) as pool:
        bar = progress.add_task('runs', total=len(tasks))
        for result in pool.imap_unordered(run_safely, tasks):
            progress.console.print(json.dumps(result))
            progress.advance(bar)
            if 'error' in result:  # see the run's run.log
                continue
            results.append(result)
            with open(osp.join(root, 'results.json'), 'w') as file:
                json.dump(results, file, indent=1)
    if tasks:
        calls.append(dict(runs=len(tasks),
                          wall_s=round(time.perf_counter() - start, 1)))
        with open(calls_path, 'w') as file:
            json.dump(calls, file)
    report(markdown(results, args, calls, list(RUNS), COMPARISONS),
           args.write_docs)


if __name__ == '__main__':
    main()
