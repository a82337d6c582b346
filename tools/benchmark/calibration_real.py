#!/usr/bin/env python
"""Calibration, "unknown" and TTA of the EfficientNet-Lite0 recipe, on photos.

Fashion-MNIST exported with the real export tool (``SIZE`` px, ``N``
training and ``V`` val images per class, the whole 10,000-image test file),
configs/efficientnet-lite0_fruit.py trained with a real Runner per seed
(built as tools/benchmark/finetune_real.py builds its ``effl0_lpft`` row),
two runs per seed:

* ``all10``: the ten classes. Temperature fitted on val
  (:mod:`fruit_ext.evaluation.calibration`); on the test file: ECE (15
  bins) before/after, top-1 before/after, and test-time augmentation
  (logits of the image and its mirror image averaged): top-1 change and
  images/s (1 thread, loading included) without and with it.
* ``known8``: ``--holdout`` classes left out of training and val (a near
  one, Shirt, whose neighbours T-shirt/Pullover/Coat are known; a far one,
  Bag). AUROC of known test images vs each held-out class for the
  uncalibrated max-softmax (the baseline) and the candidate scores; at the
  threshold chosen on val for 95 % acceptance, the share of held-out images
  rejected and of known test images accepted.

Each run leaves ``logits.npz`` in its folder (an interrupted call keeps
finished runs); the figures are computed from them, printed as Markdown and
with ``--write-docs`` put into docs/benchmarks.md ("## Calibration, unknown,
TTA"). Example (2 cores shared, about an hour)::

    python tools/benchmark/calibration_real.py --write-docs
"""
import argparse
import json
import multiprocessing
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402
from calibration_runs import LOGITS, run_one  # noqa: E402
from calibration_report import markdown  # noqa: E402
from fruit_ext.utils.cli import add_options, tool_parser

HOLDOUT = ['06_Shirt', '08_Bag']
SECTION = '## Calibration, unknown, TTA'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    add_options(parser, '--work-dir', '--source',
                work_dir='work_dirs/calibration_real')
    common.add_run_arguments(parser)
    add_options(parser, '--batch-size', '--train-per-class',
                '--val-per-class', '--test-per-class', train_per_class=50,
                val_per_class=100, test_per_class=1000)
    parser.add_argument('--holdout', nargs=2, default=HOLDOUT,
                        metavar=('NEAR', 'FAR'),
                        help='class folders held out in the known8 runs')
    parser.add_argument('--accept', type=float, default=0.95,
                        help='val acceptance the threshold is chosen for')
    add_options(parser, '--jobs', '--report-only', '--write-docs')
    args = parser.parse_args(argv)
    args.imbalance = 1.0
    return args


def known_root(data: str, holdout: List[str]) -> str:
    """A dataset root linking every split's classes but the held-out ones."""
    out = data + '_known8'
    if osp.isdir(osp.join(out, 'val')):
        return out
    for split in ('train', 'val', 'test'):
        os.makedirs(osp.join(out, split))
        for name in sorted(os.listdir(osp.join(data, split))):
            if name not in holdout:
                os.symlink(osp.join(data, split, name),
                           osp.join(out, split, name))
    return out


def build(name: str, seed: int, data: str, work_dir: str,
          args: argparse.Namespace) -> str:
    """The run's config, written into its work dir."""
    from finetune_real import build_config
    from mmengine.config import Config
    root = known_root(data, args.holdout) if name == 'known8' else data
    path = build_config('effl0_lpft', root, work_dir, seed, args)
    cfg = Config.fromfile(path)
    classes = len(os.listdir(osp.join(root, 'train')))
    cfg.data_preprocessor.num_classes = classes
    cfg.model.head.num_classes = classes
    for hook in cfg.custom_hooks:
        if hook['type'] == 'LinearProbeHook':  # its own features
            hook['cache_dir'] = osp.join(work_dir, 'probe_cache')
    cfg.dump(path)
    return path


def plan(args: argparse.Namespace, root: str):
    """(tasks to run, work dirs of every run) seed by seed."""
    tasks, runs = [], []
    for seed in args.seeds:
        for name in ('all10', 'known8'):
            work_dir = osp.join(root, 'runs', f'{name}_seed{seed}')
            runs.append((name, seed, work_dir))
            if osp.isfile(osp.join(work_dir, LOGITS)) or args.report_only:
                continue
            data = common.export(root, seed, False, args)
            tasks.append((name, seed, build(name, seed, data, work_dir, args),
                          osp.join(data, 'test')))
    return tasks, runs


def main() -> None:
    """Train the runs that are missing, then report."""
    args = parse_args()
    root = osp.abspath(args.work_dir)
    tasks, runs = plan(args, root)
    if tasks:
        context = multiprocessing.get_context('spawn')
        with context.Pool(args.jobs, maxtasksperchild=1) as pool:
            for result in pool.imap_unordered(run_one, tasks):
                print(json.dumps(result), flush=True)
    results = []
    for name, seed, work_dir in runs:
        path = osp.join(work_dir, LOGITS)
        if osp.isfile(path):
            with open(osp.join(work_dir, 'result.json')) as file:
                info = json.load(file)
            results.append(dict(info, name=name, seed=seed,
                                data=dict(np.load(path))))
    common.report(markdown(results, args), args.write_docs, SECTION)


if __name__ == '__main__':
    main()
