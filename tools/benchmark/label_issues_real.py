#!/usr/bin/env python
"""Label issues on real photos: planted flips, out-of-fold vs in-sample.

Per seed: 1,000 Fashion-MNIST images (80 train + 20 val per class, exported
by ``tools/dataset/export_fashion_mnist.py``, upscaled to 128 px), 5 % of
the training images moved to another class folder at random. Both methods
use the same model: the linear probe of ImageNet EfficientNet-Lite0
(``configs/efficientnet-lite0_fruit.py``, frozen features at 128 px, head
fitted by L-BFGS, weight decay chosen on val):

- out-of-fold: ``find_label_issues.py --probe`` (5 folds, cleanlab);
- in-sample: the head fitted on all training images ranks its own images
  by loss (what fastai's cleaner and mmpretrain's ``analyze_results.py``
  do), flagging as many images as the out-of-fold method does, or the true
  number of flips (an oracle budget), or those it predicts as another class.

    python tools/benchmark/label_issues_real.py --work /tmp/label_bench
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time
from statistics import mean, stdev

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path[:0] = [REPO, HERE, osp.join(REPO, 'tools', 'analysis')]
CONFIG = osp.join(REPO, 'configs', 'efficientnet-lite0_fruit.py')


def flip_labels(root: str, fraction: float, seed: int) -> list:
    """Move ``fraction`` of the training images to another class folder.

    Returns:
        The moved files' new paths.
    """
    rng = np.random.default_rng(seed + 1000)
    train = osp.join(root, 'train')
    classes = sorted(os.listdir(train))
    files = sorted(osp.join(c, n) for c in classes
                   for n in os.listdir(osp.join(train, c)))
    chosen = rng.choice(len(files), round(fraction * len(files)), False)
    moved = []
    for index in sorted(chosen):
        label, name = files[index].split(os.sep)
        others = [c for c in classes if c != label]
        target = osp.join(train, others[rng.integers(len(others))], name)
        shutil.move(osp.join(train, files[index]), target)
        moved.append(target)
    return moved


def build_cfg(root: str, size: int):
    """The EfficientNet-Lite0 config on ``root`` at ``size`` px."""
    from common import resize_pipeline
    from mmengine.config import Config

    import fruit_ext  # noqa: F401  (registries)
    assert fruit_ext
    from fruit_ext.engine.resolve_config import resolve_config
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(dict(data_root=root, classes='folders'))
    for split in ('train', 'val'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.pipeline = resize_pipeline(
            cfg.val_dataloader.dataset.pipeline, size)
        loader.num_workers = 0
        loader.persistent_workers = False
    cfg.pop('test_dataloader', None)
    resolve_config(cfg)
    return cfg


def one_seed(work: str, seed: int, folds: int, size: int,
             weight_decay=None) -> dict:
    """Export, flip, find, score."""
    from duplicates_real import export_upscaled
    from find_label_issues import probe_fit_predict

    from fruit_ext.datasets.label_issues import (find_issues, loss_ranking,
                                                 out_of_fold_probs,
                                                 score_flags)
    root = osp.join(work, f'flipped_{seed}')
    manifest = osp.join(root, 'flipped.json')
    if not osp.isfile(manifest):
        shutil.rmtree(root, ignore_errors=True)
        export_upscaled(root, 80, 20, seed, size)
        with open(manifest, 'w') as file:
            json.dump(flip_labels(root, 0.05, seed), file)
    with open(manifest) as file:
        flipped = set(json.load(file))
    args = argparse.Namespace(checkpoint=None, weight_decay=weight_decay,
                              work_dir=osp.join(work, f'run_{seed}'))
    start = time.perf_counter()
    fit_predict, labels, paths, _, figures = probe_fit_predict(
        build_cfg(root, size), args)
    truth = [i for i, p in enumerate(paths) if p in flipped]
    assert len(truth) == len(flipped), 'flipped files not in the train split'
    oof = out_of_fold_probs(labels, fit_predict, folds, seed)
    issues = find_issues(labels, oof)
    everything = np.arange(len(labels))
    in_sample = fit_predict(everything, everything)
    ranked = loss_ranking(labels, in_sample)
    return dict(
        seed=seed, train_images=len(labels), flips=len(truth),
        seconds=round(time.perf_counter() - start, 1),
        probe_val_top1=figures['probe_val_top1'],
        weight_decay=figures['weight_decay'],
        oof_top1=float((oof.argmax(1) == labels).mean() * 100),
        in_sample_top1=float((in_sample.argmax(1) == labels).mean() * 100),
        out_of_fold=score_flags(issues, truth),
        out_of_fold_oracle_budget=score_flags(
            loss_ranking(labels, oof)[:len(truth)], truth),
        in_sample_same_budget=score_flags(ranked[:len(issues)], truth),
        in_sample_oracle_budget=score_flags(ranked[:len(truth)], truth),
        in_sample_disagrees=score_flags(
            np.flatnonzero(in_sample.argmax(1) != labels), truth))


def main() -> None:
    """Run the seeds and print per-seed and summary figures as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--work', default='/tmp/label_bench',
                        help='exported images, features and results')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='seeds (images and flipped labels)')
    parser.add_argument('--folds', type=int, default=5,
                        help='out-of-fold folds')
    parser.add_argument('--size', type=int, default=128,
                        help='images upscaled to this size')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads')
    parser.add_argument('--weight-decay', type=float,
                        help='head weight decay for both methods (default: '
                        'chosen on val); 1e-4 fits the training set like a '
                        'fine-tuned network')
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    runs = [one_seed(args.work, seed, args.folds, args.size,
                     args.weight_decay) for seed in args.seeds]
    summary = {}
    for method in ('out_of_fold', 'out_of_fold_oracle_budget',
                   'in_sample_same_budget',
                   'in_sample_oracle_budget', 'in_sample_disagrees'):
        for metric in ('precision', 'recall', 'f1'):
            values = [run[method][metric] for run in runs]
            summary[f'{method}/{metric}'] = (
                round(mean(values), 3),
                round(stdev(values), 3) if len(values) > 1 else 0.0)
    print(json.dumps(dict(weight_decay=args.weight_decay or 'chosen on val',
                          runs=runs, summary=summary,
                          uptime=os.getloadavg()), indent=1))


if __name__ == '__main__':
    main()
