#!/usr/bin/env python
"""Accuracy of the CPU fast path (bf16 autocast + channels-last) vs fp32.

The EfficientNet-Lite0 recipe (``effl0_lpft`` of finetune_real.py: same data
export, size, epochs and seeds) trained twice per seed on Fashion-MNIST:
once in fp32 NCHW (``cpu_fast_path=False``) and once with what
``FruitRunner`` turns on by default on a CPU with native bfloat16
(``apply_cpu_fast_path``, forced on here so the table can be made on any
CPU). Both are evaluated on the full 10,000-image test file; runs are
interleaved seed by seed. Seed 0's fp32 run keeps its last checkpoint
(``runs/.../fp32_seed0/epoch_N.pth``) for the int8 benchmark.

Example (about 30 minutes on 2 busy cores)::

    python tools/benchmark/cpu_fast_path.py --work-dir work_dirs/fast_path
"""
import argparse
import json
import multiprocessing
import os.path as osp
import sys
from statistics import mean, stdev
from typing import Dict, List

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import add_run_arguments, export  # noqa: E402
from finetune_real import build_config  # noqa: E402
from finetune_runs import RESULT, run_safely  # noqa: E402

from fruit_ext.utils.cli import add_options, tool_parser  # noqa: E402

MODES = ('fp32', 'fast')


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    add_options(parser, '--work-dir', work_dir='work_dirs/fast_path')
    parser.add_argument('--data-dir', default='work_dirs/finetune_real',
                        help='where finetune_real.py exports (shared)')
    add_run_arguments(parser)
    add_options(parser, '--jobs')
    args = parser.parse_args()
    args.__dict__.update(train_per_class=50, val_per_class=20,
                         test_per_class=1000, batch_size=32, imbalance=1,
                         source=None, override=None)
    return args


def make_config(mode: str, seed: int, args: argparse.Namespace) -> str:
    """Write one run's config (the recipe, fp32 or the fast path)."""
    from mmengine.config import Config

    from fruit_ext.engine.cpu_fast_path import apply_cpu_fast_path
    data = export(osp.abspath(args.data_dir), seed, False, args)
    work_dir = osp.join(osp.abspath(args.work_dir), 'runs',
                        f'{mode}_seed{seed}')
    path = build_config('effl0_lpft', data, work_dir, seed, args)
    cfg = Config.fromfile(path)
    # finetune_runs builds mmengine's Runner: apply here what FruitRunner
    # would, so both modes are exactly what a user's run gets
    cfg.cpu_fast_path = mode == 'fast'
    if mode == 'fast':
        apply_cpu_fast_path(cfg)
    if mode == 'fp32' and seed == 0:  # the model the int8 benchmark uses
        cfg.default_hooks.checkpoint.update(save_last=True)
    cfg.dump(path)
    return path


def report(results: List[dict]) -> str:
    """Markdown table: test top-1 per seed, mean ± std, training time."""
    by: Dict[str, Dict[int, dict]] = {}
    for result in results:
        by.setdefault(result['name'], {})[result['seed']] = result
    seeds = sorted({r['seed'] for r in results})
    lines = ['| run | ' + ' | '.join(f'seed {s}' for s in seeds) +
             ' | mean ± std | train s (mean) |',
             '|---|' + '---|' * (len(seeds) + 2)]
    for mode in MODES:
        runs = by.get(mode, {})
        top1 = [runs[s]['top1'] for s in seeds if s in runs]
        spread = f'{mean(top1):.2f} ± {stdev(top1):.2f}' \
            if len(top1) > 1 else ''
        lines.append(f'| {mode} | ' + ' | '.join(
            f"{runs[s]['top1']:.2f}" if s in runs else '' for s in seeds) +
            f' | {spread} | '
            f"{mean(r['train_s'] for r in runs.values()):.0f} |"
            if runs else f'| {mode} |')
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    tasks, results = [], []
    for seed in args.seeds:
        for mode in MODES:
            path = make_config(mode, seed, args)
            done = osp.join(osp.dirname(path), RESULT)
            if osp.isfile(done):
                with open(done) as file:
                    results.append(dict(json.load(file), name=mode))
                continue
            tasks.append((mode, seed, path))
    context = multiprocessing.get_context('spawn')
    with context.Pool(args.jobs, maxtasksperchild=1) as pool:
        for result in pool.imap_unordered(run_safely, tasks):
            print(json.dumps(result), flush=True)
            if 'error' not in result:
                results.append(result)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as file:
        json.dump(results, file, indent=1)
    print(report(results))


if __name__ == '__main__':
    main()
