"""Fit temperature scaling and the "unknown" threshold on the val split.

    python tools/analysis/calibrate.py CONFIG CHECKPOINT [--out FILE]
        [--score energy|msp] [--accept 0.95] [--split val]
        [--cfg-options KEY=VALUE ...]
    python tools/analysis/calibrate.py WORK_DIR [CHECKPOINT] [...]

The checkpoint is never changed: the calibration is written into a NEW
checkpoint, ``<name>_calibrated.pth`` (or ``.safetensors``, as the input)
beside it unless ``--out`` says where, holding the same weights and meta
plus ``meta['calibration']``; an existing file is replaced only with
``--overwrite``, and never the input itself. Every fruit_ext entry point
(init_model, inference_model, tools/infer.py, publish_model.py,
export_onnx.py) applies a calibration it finds in a checkpoint.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import tempfile

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from fruit_ext.apis.calibrated_head import attach_calibration
from fruit_ext.apis.checked_loading import build_model, read_checkpoint
from fruit_ext.apis.work_dir import (WorkDirError, add_model_arguments,
                                     resolve_model_files)
from fruit_ext.compat.safetensors_format import (is_safetensors,
                                                 write_safetensors)
from fruit_ext.engine.logits import collect_logits
from fruit_ext.engine.resolve_config import resolve_config
from fruit_ext.evaluation.calibration import (DEFAULT_SCORE, SCORES,
                                              fit_calibration)
from fruit_ext.utils.cli import add_options, tool_parser


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    add_model_arguments(parser)
    parser.add_argument('--out', help='calibrated checkpoint to write '
                        '(default: <checkpoint>_calibrated beside it)')
    add_options(parser, '--overwrite')
    parser.add_argument('--score', choices=SCORES, default=DEFAULT_SCORE,
                        help='"unknown" score (docs/inference.md compares '
                        'them)')
    parser.add_argument('--accept', type=float, default=0.95,
                        help='share of in-class val images to accept')
    parser.add_argument('--split', default='val',
                        help='split to fit on (never the test split)')
    add_options(parser, '--device', '--cfg-options')
    return parser.parse_args()


def output_path(checkpoint: str, out: str, overwrite: bool) -> str:
    """Where to write, refusing to overwrite the input or, silently, a file.

    Raises:
        ValueError: ``out`` is the input, or exists without --overwrite.
    """
    if not out:
        stem, ext = osp.splitext(checkpoint)
        out = f'{stem}_calibrated{ext if ext == ".safetensors" else ".pth"}'
    if osp.exists(out) and osp.realpath(out) == osp.realpath(checkpoint):
        raise ValueError(f'--out {out} is the checkpoint being calibrated: '
                         'give another file name.')
    if osp.exists(out) and not overwrite:
        raise ValueError(f'{out} exists: pass --overwrite to replace it, or '
                         'another --out.')
    return out


def write_calibrated(checkpoint: str, calibration: dict, out: str) -> None:
    """The input's tensors and meta plus the calibration, written atomically.
    """
    loaded = read_checkpoint(checkpoint)
    loaded['meta'] = dict(loaded.get('meta') or {}, calibration=calibration)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=osp.splitext(out)[1],
                                   dir=osp.dirname(osp.abspath(out)))
    os.close(handle)
    try:
        if is_safetensors(checkpoint) or out.endswith('.safetensors'):
            write_safetensors(loaded['state_dict'], loaded['meta'], tmp)
        else:
            torch.save(loaded, tmp)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def main() -> int:
    """Fit on the split, print the figures, write the new checkpoint."""
    args = parse_args()
    try:
        config, checkpoint = resolve_model_files(args.config, args.checkpoint)
        if not checkpoint:
            raise WorkDirError(f'{args.config} is not a work dir: pass the '
                               'CHECKPOINT to calibrate after it.')
        out = output_path(checkpoint, args.out, args.overwrite)
        cfg = config if isinstance(config, Config) else Config.fromfile(
            config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        resolve_config(cfg)  # data_root=X reaches the dataloaders
        model = build_model(cfg, checkpoint, device=args.device,
                            evaluating=True)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    attach_calibration(model, None)  # fit on the raw logits
    loader_cfg = copy.deepcopy(cfg.val_dataloader)
    if 'split' in loader_cfg.dataset or args.split != 'val':
        loader_cfg.dataset.split = args.split
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(loader_cfg)
    logits, labels = collect_logits(model, loader)
    calibration = fit_calibration(logits, labels, args.score, args.accept)
    calibration['split'] = args.split
    write_calibrated(checkpoint, calibration, out)
    shown = {k: v for k, v in calibration.items() if 'quantile' not in k}
    print(json.dumps(shown, indent=1))
    print(f"{len(labels)} {args.split} images: temperature "
          f"{calibration['temperature']:.3f}, ECE "
          f"{calibration['ece_before']:.2%} -> {calibration['ece_after']:.2%};"
          f" unknown below {args.score} {calibration['threshold']:.4g}")
    print(f'calibrated checkpoint written to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
