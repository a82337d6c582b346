#!/usr/bin/env python
"""Label issues on real photos: planted flips, out-of-fold vs in-sample.

Per seed: 1,000 Fashion-MNIST images (80 train + 20 val per class, exported
by ``tools/dataset/export_fashion_mnist.py``, upscaled to 128 px, fed to the
models at ``--size`` px), 5 % of the training images moved to another class
folder at random. Probabilities for every training image from:

- ``ft_oof``: ``find_label_issues.py``'s default mode, the project's
  fine-tuning recipe (``configs/efficientnet-lite0_fruit.py``, LP-FT, run
  config built by ``finetune_real.build_config``) trained by a Runner on
  4 of 5 folds, predicting the fifth;
- ``ft_in_sample``: the same recipe trained once on all the (noisy)
  training images, predicting them (fastai's ``top_losses`` after
  fine-tuning, mmpretrain's ``analyze_results.py``);
- ``probe_oof`` / ``probe_in_sample``: the same with the linear probe only
  (``find_label_issues.py --probe``; head fitted by L-BFGS on frozen
  features, weight decay chosen on val).

Out-of-fold probabilities go through cleanlab with each ``--rules`` rule
(the tool's flags, ``--filter-by`` / ``--frac-noise``); in-sample ones are
ranked by loss, flagging as many as that rule does, or the top 40. Each
method's probabilities are saved (``WORK/seed_S/*.npy``; scoring also
writes them with the labels and the flips' indices to
``WORK/seed_S/probs.npz``), so a call resumes and ``--report-only`` tries
other rules without training.

    python tools/benchmark/label_issues_real.py --work /tmp/label_bench
    python tools/benchmark/label_issues_real.py --work /tmp/label_bench \
        --seeds 100 101 --report-only --rules both prune_by_class:0.5
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time
from statistics import mean, stdev
from typing import List, Sequence

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path[:0] = [REPO, HERE, osp.join(REPO, 'tools', 'analysis')]
CONFIG = osp.join(REPO, 'configs', 'efficientnet-lite0_fruit.py')
EXPORT_SIZE = 128  # the exported images' side; models see --size px
METHODS = ('probe', 'ft_in_sample', 'ft_oof')


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
    """The EfficientNet-Lite0 config on ``root`` at ``size`` px (probe)."""
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



def prepare(work: str, seed: int):
    """Export one seed's images and flip 5 % of the training labels.

    Returns:
        (dataset root, set of the flipped files' paths).
    """
    from duplicates_real import export_upscaled
    root = osp.join(work, f'flipped_{seed}')
    manifest = osp.join(root, 'flipped.json')
    if not osp.isfile(manifest):
        shutil.rmtree(root, ignore_errors=True)
        export_upscaled(root, 80, 20, seed, EXPORT_SIZE)
        with open(manifest, 'w') as file:
            json.dump(flip_labels(root, 0.05, seed), file)
    with open(manifest) as file:
        return root, set(json.load(file))


def probe_probs(root: str, seed: int, args, out: str) -> dict:
    """``probe_oof`` and ``probe_in_sample`` probabilities, labels, paths."""
    from find_label_issues import probe_fit_predict

    from fruit_ext.datasets.label_issues import out_of_fold_probs
    probe_args = argparse.Namespace(checkpoint=args.checkpoint,
                                    weight_decay=None, work_dir=out)
    fit_predict, labels, paths, _, figures = probe_fit_predict(
        build_cfg(root, args.size), probe_args)
    everything = np.arange(len(labels))
    return dict(probe_oof=out_of_fold_probs(labels, fit_predict, args.folds,
                                            seed),
                probe_in_sample=fit_predict(everything, everything),
                labels=labels, paths=paths,
                probe_weight_decay=figures['weight_decay'])


def finetune_probs(root: str, seed: int, args, out: str,
                   out_of_fold: bool) -> dict:
    """The LP-FT recipe's probabilities: out-of-fold or in-sample."""
    from finetune_real import build_config
    from find_label_issues import runner_fit_predict
    from mmengine.config import Config

    from fruit_ext.datasets.label_issues import out_of_fold_probs
    from fruit_ext.engine.resolve_config import resolve_config
    name = 'ft_oof' if out_of_fold else 'ft_in_sample'
    work_dir = osp.join(out, name)
    run_args = argparse.Namespace(size=args.size, epochs=args.epochs,
                                  batch_size=32, checkpoint=args.checkpoint,
                                  test_per_class=0)
    cfg = Config.fromfile(build_config('effl0_lpft', root, work_dir, seed,
                                       run_args))
    resolve_config(cfg)
    fit_predict, labels, paths, _, _ = runner_fit_predict(
        cfg, argparse.Namespace(folds=args.folds, work_dir=work_dir,
                                checkpoint=None))
    everything = np.arange(len(labels))
    probs = out_of_fold_probs(labels, fit_predict, args.folds, seed) \
        if out_of_fold else fit_predict(everything, everything)
    return {name: probs, 'labels': labels, 'paths': paths}


def compute(work: str, seed: int, method: str, args) -> None:
    """Compute and save one method's probabilities (skipped when saved)."""
    out = osp.join(work, f'seed_{seed}')
    names = ['probe_oof', 'probe_in_sample'] if method == 'probe' \
        else [method]
    if all(osp.isfile(osp.join(out, f'{n}.npy')) for n in names):
        return
    root, _ = prepare(work, seed)
    load, start = os.getloadavg()[0], time.perf_counter()
    if method == 'probe':
        result = probe_probs(root, seed, args, out)
    else:
        result = finetune_probs(root, seed, args, out, method == 'ft_oof')
    meta_path = osp.join(out, 'meta.json')
    meta = {}
    if osp.isfile(meta_path):
        with open(meta_path) as file:
            meta = json.load(file)
        assert meta['paths'] == result['paths'], 'image order differs'
    meta.update(paths=result['paths'], labels=result['labels'].tolist())
    meta[method] = dict(seconds=round(time.perf_counter() - start, 1),
                        load_start=load, load_end=os.getloadavg()[0],
                        when=time.strftime('%H:%M UTC', time.gmtime()))
    if 'probe_weight_decay' in result:
        meta[method]['weight_decay'] = result['probe_weight_decay']
    with open(meta_path, 'w') as file:
        json.dump(meta, file)
    for name in names:
        np.save(osp.join(out, f'{name}.npy'), result[name])


def score_seed(work: str, seed: int, rules: Sequence[str]) -> dict:
    """Precision/recall/F1 of every row for one seed (saved methods only).

    Args:
        work: The benchmark's work dir.
        seed: The seed.
        rules: ``FILTER_BY`` or ``FILTER_BY:FRAC_NOISE`` for the
            out-of-fold sources' flags (:func:`find_issues`).

    Returns:
        ``{'rows': {row: score_flags dict}, 'top1': {source: %}}``.
    """
    from fruit_ext.datasets.label_issues import (find_issues, loss_ranking,
                                                 score_flags)
    out = osp.join(work, f'seed_{seed}')
    with open(osp.join(out, 'meta.json')) as file:
        meta = json.load(file)
    _, flipped = prepare(work, seed)
    labels = np.array(meta['labels'])
    truth = [i for i, p in enumerate(meta['paths']) if p in flipped]
    assert len(truth) == len(flipped), 'flipped files not in the train split'
    probs = {name: np.load(osp.join(out, f'{name}.npy')) for name in
             ('probe_oof', 'probe_in_sample', 'ft_oof', 'ft_in_sample')
             if osp.isfile(osp.join(out, f'{name}.npy'))}
    np.savez(osp.join(out, 'probs.npz'), labels=labels, truth=truth,
             **probs)  # to try other rules without reading meta.json
    rows, flags = {}, {}
    for name in ('ft_oof', 'probe_oof'):
        for rule in rules if name in probs else ():
            filter_by, _, frac = rule.partition(':')
            flags[f'{name} {rule}'] = find_issues(
                labels, probs[name], filter_by, float(frac or 1))
            rows[f'{name} {rule}'] = score_flags(flags[f'{name} {rule}'],
                                                 truth)
    for name, prob in probs.items():
        ranked = loss_ranking(labels, prob)
        rows[f'{name} top40'] = score_flags(ranked[:len(truth)], truth)
        if 'in_sample' in name:
            for oof, flagged in flags.items():
                rows[f'{name} count({oof})'] = score_flags(
                    ranked[:len(flagged)], truth)
    return dict(rows=rows, meta={k: v for k, v in meta.items()
                                 if k in METHODS},
                top1={name: round(float((p.argmax(1) == labels).mean()
                                        * 100), 1)
                      for name, p in probs.items()})


#: the rules scored by default: the tool's (chosen on seeds 100 and 101)
#: and cleanlab's default
RULES = ('low_self_confidence', 'prune_by_noise_rate')


def comparisons(rules: Sequence[str]) -> List[tuple]:
    """(candidate, baseline) rows whose F1 is paired by seed."""
    pairs = []
    for oof in ('ft_oof', 'probe_oof'):
        for rule in rules:
            pairs.append((f'{oof} {rule}',
                          f'ft_in_sample count({oof} {rule})'))
            if oof == 'probe_oof':
                pairs.append((f'{oof} {rule}',
                              f'probe_in_sample count({oof} {rule})'))
        pairs.append((f'{oof} top40', 'ft_in_sample top40'))
    return pairs + [('probe_oof top40', 'probe_in_sample top40')]


def markdown(scores: list, rules: Sequence[str] = RULES) -> str:
    """The rows (mean ± std over seeds) and the paired F1 comparisons."""
    def values(row, key):
        return [s['rows'][row][key] for s in scores if row in s['rows']]

    def fmt(vals):
        return f'{mean(vals):.2f} ± {stdev(vals):.2f}' if len(vals) > 1 \
            else f'{vals[0]:.2f}'
    lines = ['| row | flagged | precision | recall | F1 | F1 per seed |',
             '|---|---|---|---|---|---|']
    for row in sorted(set().union(*(s['rows'] for s in scores))):
        flagged = values(row, 'flagged')
        lines.append(
            f'| {row} | {min(flagged)}-{max(flagged)} | '
            f"{fmt(values(row, 'precision'))} | {fmt(values(row, 'recall'))}"
            f" | {fmt(values(row, 'f1'))} | "
            + ' '.join(f'{v:.2f}' for v in values(row, 'f1')) + ' |')
    lines += ['', '| candidate - baseline (F1, paired by seed) | mean | per '
              'seed | spread (larger F1 std) | wins by more than spread? |',
              '|---|---|---|---|---|']
    for cand, base in comparisons(rules):
        both = [s for s in scores if cand in s['rows'] and base in s['rows']]
        if len(both) < 2:
            continue
        a = [s['rows'][cand]['f1'] for s in both]
        b = [s['rows'][base]['f1'] for s in both]
        diffs = [x - y for x, y in zip(a, b)]
        spread = max(stdev(a), stdev(b))
        wins = mean(diffs) > spread and min(diffs) > 0
        lines.append(f'| {cand} - {base} | {mean(diffs):+.3f} | '
                     + ' '.join(f'{d:+.3f}' for d in diffs)
                     + f' | {spread:.3f} | {"yes" if wins else "no"} |')
    return '\n'.join(lines)


def main() -> None:
    """Compute the missing probabilities, then print the tables and JSON."""
    from common import add_run_arguments
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument('--work', default='/tmp/label_bench',
                        help='exported images, runs and probabilities')
    parser.add_argument('--folds', type=int, default=5,
                        help='out-of-fold folds')
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=METHODS, help='probabilities to compute '
                        '(method by method over the seeds)')
    parser.add_argument('--rules', nargs='+', default=list(RULES),
                        help='out-of-fold flag rules scored: FILTER_BY or '
                        'FILTER_BY:FRAC_NOISE (find_label_issues.py '
                        '--filter-by / --frac-noise)')
    parser.add_argument('--report-only', action='store_true',
                        help='only score what earlier calls saved')
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    if not args.report_only:
        for method in args.methods:
            for seed in args.seeds:
                compute(args.work, seed, method, args)
                print(f'{method} seed {seed} done {os.getloadavg()}',
                      flush=True)
    scores = [score_seed(args.work, seed, args.rules)
              for seed in args.seeds]
    print(json.dumps(dict(scores=scores, seeds=args.seeds,
                          uptime=os.getloadavg()), indent=1))
    print(markdown(scores, args.rules))


if __name__ == '__main__':
    main()
