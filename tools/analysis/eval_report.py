"""Run a checkpoint over a dataset split and write its evaluation report.

    python tools/analysis/eval_report.py CONFIG CHECKPOINT [--split val]
        [--out-dir DIR] [--num-mistakes 16] [--device cpu]
        [--cfg-options KEY=VALUE ...]
    python tools/analysis/eval_report.py WORK_DIR [CHECKPOINT] [...]

A checkpoint that does not fit the config (tensors, class names, backbone)
is refused before any image is read (exit code 1).

Writes the per-class precision/recall/F1 CSV, the confusion-matrix PNG and
the worst-mistakes grid (:func:`fruit_ext.evaluation.write_eval_report`, the
same report the EvalReportHook writes during training).
"""
import argparse
import copy
import os.path as osp
import pickle
import sys
from typing import List, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from rich.progress import track

from fruit_ext.apis.calibrated_head import attach_calibration
from fruit_ext.apis.checked_loading import build_model
from fruit_ext.apis.work_dir import (WorkDirError, add_model_arguments,
                                     resolve_model_files)
from fruit_ext.engine.resolve_config import resolve_config
from fruit_ext.evaluation import write_eval_report
from fruit_ext.utils.cli import add_options, tool_parser


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    add_model_arguments(parser)
    parser.add_argument(
        '--split', help="dataset split, e.g. 'val' or 'test' (default: the "
        "config's test_dataloader as it is)")
    parser.add_argument('--out-dir', help='default: <checkpoint dir>/'
                        'eval_report_<split>')
    parser.add_argument('--num-mistakes', type=int, default=16,
                        help='worst mistakes to show in the report')
    add_options(parser, '--batch-size', '--device', '--cfg-options',
                batch_size=dict(default=None, help="images per batch (none: "
                                "the config's)"))
    return parser.parse_args()


def predict_split(model: torch.nn.Module, loader_cfg: dict
                  ) -> Tuple[np.ndarray, np.ndarray, List[str], dict]:
    """Scores, true labels and image paths of every sample.

    Args:
        model: Classifier from :func:`mmpretrain.get_model`.
        loader_cfg: A dataloader config.

    Returns:
        ((N, C) scores, (N,) labels, N paths, the dataset's metainfo).
    """
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(loader_cfg)
    scores, labels, paths = [], [], []
    with torch.no_grad():
        for batch in track(loader, description='Evaluating'):
            for sample in model.test_step(batch):
                scores.append(sample.pred_score.float().cpu().numpy())
                labels.append(int(sample.gt_label[0]))
                paths.append(sample.get('img_path', ''))
    return (np.stack(scores), np.array(labels), paths,
            loader.dataset.metainfo)


def main() -> int:
    """Predict the split, then write and print the report's files."""
    args = parse_args()
    try:
        config_file, args.checkpoint = resolve_model_files(args.config,
                                                           args.checkpoint)
        if not args.checkpoint:
            raise WorkDirError(f'{args.config} is not a work dir: pass the '
                               'CHECKPOINT to evaluate after it.')
    except WorkDirError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    cfg = config_file if isinstance(config_file, Config) \
        else Config.fromfile(config_file)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    for line in resolve_config(cfg):  # data_root=X reaches the dataloader
        print(line)
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    if args.split:
        loader_cfg.dataset.split = args.split
    if args.batch_size:
        loader_cfg.batch_size = args.batch_size
    try:
        model = build_model(cfg, args.checkpoint, device=args.device,
                            evaluating=True)
    except (ValueError, FileNotFoundError, RuntimeError,
            pickle.UnpicklingError) as error:  # model files that do not fit
        print(f'error: {error}', file=sys.stderr)
        return 1
    # raw scores; a stored temperature gives the "after" of the reliability
    calibration = getattr(model, '_calibration', None)
    attach_calibration(model, None)
    scores, labels, paths, metainfo = predict_split(model, loader_cfg)
    classes = list(model._dataset_meta.get('classes') or metainfo['classes'])
    if list(metainfo['classes']) != classes:
        print(f'error: the checkpoint\'s {len(classes)} classes differ from '
              f'the dataset\'s {len(metainfo["classes"])}; use a config for '
              'the same class set.', file=sys.stderr)
        return 1
    split = args.split or loader_cfg.dataset.get('split') or 'test'
    out_dir = args.out_dir or osp.join(
        osp.dirname(osp.abspath(args.checkpoint)), f'eval_report_{split}')
    written = write_eval_report(
        scores, labels, paths, classes, out_dir,
        aliases=metainfo.get('aliases'), num_mistakes=args.num_mistakes,
        temperature=calibration['temperature'] if calibration else None)
    top1 = float((scores.argmax(axis=1) == labels).mean() * 100)
    print(f'{len(labels)} images of split {split!r}: top-1 {top1:.2f} %')
    for kind, path in written.items():
        print(f'{kind}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
