#!/usr/bin/env python
"""Find mislabelled training images: confident learning, out-of-fold.

    python tools/analysis/find_label_issues.py CONFIG --probe \\
        --cfg-options data_root=data/my_split --out issues.csv --show-dir sus
    python tools/analysis/find_label_issues.py CONFIG --folds 3   # Runner
    python tools/analysis/find_label_issues.py CONFIG --probe --move-to OUT
    python tools/analysis/find_label_issues.py --restore OUT

Every training image gets class probabilities from a model that never saw
it (K stratified folds). ``--probe`` fits only the config's head per fold
on cached features of the frozen pretrained backbone (seconds); without it
each fold trains the config's model with its own Runner. Then
``cleanlab.filter.find_label_issues`` flags the suspects: by default
(``--filter-by low_self_confidence``) as many as cleanlab estimates are
wrong, those least likely under their given label. Writes a CSV
(path,given,suggested,score; most suspect first) and a picture grid of the
top suspects; ``--move-to DIR`` moves them out (never deletes), with a
manifest for ``--restore DIR``.
"""
import argparse
import copy
import itertools
import os
import os.path as osp
import sys
import time

import numpy as np
from mmengine.config import Config, DictAction

from fruit_ext.datasets.label_issues import (DEFAULT_FILTER, FILTERS,
                                             FRAC_NOISE_FILTERS)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('config', nargs='?', help='config of the model')
    parser.add_argument('--probe', action='store_true',
                        help='fit only the head per fold on cached features')
    parser.add_argument('--folds', type=int, default=5, help='K')
    parser.add_argument('--seed', type=int, default=0, help='fold seed')
    parser.add_argument('--checkpoint', help="weights (default: the config's "
                        'load_from)')
    parser.add_argument('--work-dir', default='work_dirs/label_issues',
                        help='fold runs, feature cache, default outputs')
    parser.add_argument('--out', help='CSV (default: WORK_DIR/issues.csv)')
    parser.add_argument('--show-dir', help='picture grid folder (default: '
                        'WORK_DIR/suspects)')
    parser.add_argument('--show-top', type=int, default=24,
                        help='suspects drawn')
    parser.add_argument('--move-to', metavar='DIR',
                        help='move the suspects out of the dataset to DIR')
    parser.add_argument('--restore', metavar='DIR',
                        help='put the images moved to DIR back')
    parser.add_argument('--weight-decay', type=float,
                        help='--probe: head weight decay (default: chosen '
                        'on the val split)')
    parser.add_argument('--filter-by', default=DEFAULT_FILTER,
                        choices=FILTERS, help="which images are flagged: "
                        "cleanlab's filter_by rule (docs/data.md)")
    parser.add_argument('--frac-noise', type=float, default=1.0,
                        help='flag this fraction (0-1] of the estimated '
                        'number of issues (' + ', '.join(FRAC_NOISE_FILTERS)
                        + ' only)')
    parser.add_argument('--threads', type=int, help='torch threads')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args()
    if bool(args.config) == bool(args.restore):
        parser.error('give a CONFIG, or --restore DIR alone')
    if args.config and args.folds < 2:
        parser.error(f'--folds {args.folds}: must be at least 2')
    if not 0 < args.frac_noise <= 1:
        parser.error(f'--frac-noise {args.frac_noise}: must be in (0, 1]')
    if args.frac_noise != 1 and args.filter_by not in FRAC_NOISE_FILTERS:
        parser.error('--frac-noise needs --filter-by '
                     + ' / '.join(FRAC_NOISE_FILTERS))
    return args


def load_cfg(args: argparse.Namespace) -> Config:
    """The config with --cfg-options and the once-given settings applied."""
    import fruit_ext  # noqa: F401  (registries)
    assert fruit_ext
    from fruit_ext.engine.resolve_config import resolve_config
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    resolve_config(cfg)
    return cfg


def probe_fit_predict(cfg: Config, args: argparse.Namespace):
    """Cached features and a head fitted per fold (the linear probe).

    Returns:
        (fit_predict, labels, paths, classes, figures).
    """
    import torch

    from fruit_ext.engine.linear_probe import fit_probe
    from fruit_ext.engine.probe_config import build_model, probe_loader
    from fruit_ext.engine.probe_features import cached_features
    model = build_model(cfg, args.checkpoint)
    cache = osp.join(args.work_dir, 'probe_cache')
    loader = probe_loader(cfg, 'train')
    (feats, labels), _ = cached_features(model, loader, cache)
    val_loader = probe_loader(cfg, 'val')
    val = cached_features(model, val_loader, cache)[0] if val_loader else None
    forced = getattr(args, 'weight_decay', None)
    whole = fit_probe(model.head, (feats, labels), val,  # chooses the decay
                      **(dict(weight_decays=[forced]) if forced else {}))
    figures = dict(probe_val_top1=whole.val_top1,
                   weight_decay=whole.weight_decay)

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        fitted = fit_probe(model.head, (feats[train], labels[train]), None,
                           default_weight_decay=whole.weight_decay)
        head = copy.deepcopy(model.head).float()
        head.load_state_dict(fitted.head_state)
        head.eval()
        with torch.no_grad():
            return head((feats[test], )).softmax(1).numpy()

    dataset = loader.dataset
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    return (fit_predict, labels.numpy(), paths,
            list(dataset.metainfo['classes']), figures)


def runner_fit_predict(cfg: Config, args: argparse.Namespace):
    """A Runner trains the config on K-1 folds and predicts the held-out one.

    Each call of ``fit_predict`` trains in ``WORK_DIR/fold_<call number>``
    (the in-sample baseline of ``tools/benchmark/label_issues_real.py``
    calls it with every image as train and test).

    Returns:
        (fit_predict, labels, paths, classes, figures).
    """
    import torch
    from mmengine.runner import Runner

    from fruit_ext.engine.probe_config import probe_loader
    loader = probe_loader(cfg, 'train')
    dataset = loader.dataset
    labels = np.array([int(dataset.get_data_info(i)['gt_label'])
                       for i in range(len(dataset))])
    fold_number = itertools.count()  # one run folder per call

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        fold_cfg = copy.deepcopy(cfg)
        fold_cfg.work_dir = osp.join(args.work_dir,
                                     f'fold_{next(fold_number)}')
        inner = fold_cfg.train_dataloader.dataset
        while 'dataset' in inner:  # RepeatDataset, ClassBalancedDataset...
            inner = inner['dataset']
        inner['indices'] = train.tolist()
        fold_cfg.load_from = args.checkpoint or cfg.get('load_from')
        runner = Runner.from_cfg(fold_cfg)
        runner.train()
        held = type(loader)(dataset.get_subset(test.tolist()),
                            batch_size=loader.batch_size,
                            collate_fn=loader.collate_fn)
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        model.eval()
        scores = []
        with torch.no_grad():
            for batch in held:
                scores += [s.pred_score.float().cpu()
                           for s in model.test_step(batch)]
        return torch.stack(scores).numpy()

    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    return fit_predict, labels, paths, list(dataset.metainfo['classes']), {}


def move_suspects(rows, dest: str) -> None:
    """Move the suspects out (quarantine's manifest; --restore undoes it)."""
    from fruit_ext.datasets.quarantine import move_out
    root = osp.commonpath([osp.dirname(osp.dirname(r.path)) for r in rows])
    moved = move_out(root, {osp.relpath(r.path, root): f'label issue: filed '
                            f'as {r.given}, looks like {r.suggested} '
                            f'(p={r.suggested_prob:.2f})' for r in rows},
                     dest)
    print(f'Moved {len(moved)} suspect(s) to {dest} (undo: --restore {dest}).')


def restore_suspects(dest: str) -> int:
    """Put moved suspects back; non-zero when some could not go back."""
    from fruit_ext.datasets.quarantine import restore
    restored, problems = restore(dest)
    for problem in problems:
        print(f'not restored: {problem}')
    print(f'Restored {len(restored)} file(s).')
    return 1 if problems else 0


def main() -> int:
    """Run the tool.

    Returns:
        The exit status.
    """
    start = time.perf_counter()
    args = parse_args()
    if args.restore:
        return restore_suspects(args.restore)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from fruit_ext.datasets.health.sheets import image_grid
    from fruit_ext.datasets.label_issues import (find_issues, issue_rows,
                                                 out_of_fold_probs,
                                                 write_issues_csv)
    cfg = load_cfg(args)
    build = probe_fit_predict if args.probe else runner_fit_predict
    try:
        fit_predict, labels, paths, classes, figures = build(cfg, args)
        probs = out_of_fold_probs(labels, fit_predict, args.folds, args.seed)
    except ValueError as error:
        print(f'error: {error}')
        return 2
    rows = issue_rows(paths, labels, probs,
                      find_issues(labels, probs, args.filter_by,
                                  args.frac_noise), classes)
    os.makedirs(args.work_dir, exist_ok=True)
    out = args.out or osp.join(args.work_dir, 'issues.csv')
    write_issues_csv(rows, out)
    top = rows[:args.show_top]
    if top:
        image_grid([r.path for r in top],
                   [f'{r.given} → {r.suggested} ({r.suggested_prob:.2f})'
                    for r in top],
                   osp.join(args.show_dir or osp.join(args.work_dir,
                                                      'suspects'),
                            'suspects.png'),
                   f'{len(rows)} suspected label issue(s), given → suggested')
    oof_top1 = float((probs.argmax(1) == labels).mean() * 100)
    print(f'{len(rows)} suspected label issue(s) among {len(labels)} training '
          f'images ({args.folds} folds, out-of-fold top-1 {oof_top1:.1f} %'
          + (f', probe val top-1 {figures["probe_val_top1"]:.1f} %'
             if figures.get('probe_val_top1') is not None else '') + ')')
    for row in rows[:10]:
        print(f'  {row.path}: {row.given} -> {row.suggested} '
              f'(p(given) {row.score:.3f})')
    print(f'Wrote {out} in {time.perf_counter() - start:.1f} s.')
    if args.move_to and rows:
        move_suspects(rows, args.move_to)
    return 0


if __name__ == '__main__':
    sys.exit(main())
