"""Predict images, folders, globs or path lists with a trained classifier.

    python tools/infer.py CONFIG CHECKPOINT INPUT... [--out FILE.csv|FILE.json]
        [--show-dir DIR] [--topk K] [--device D] [--tta]
        [--threshold T | --accept A]
    python tools/infer.py WORK_DIR [CHECKPOINT] INPUT...
    python tools/infer.py CHECKPOINT INPUT...      # .pth/.safetensors alone

CONFIG may also be a model name from the model index (mobilenet-v2_fruit30);
WORK_DIR is a training work dir (its dumped config and best.pth are used; a
CHECKPOINT after it, .pth or .safetensors, replaces best.pth). CHECKPOINT may
be a .safetensors file from tools/deploy/publish_model.py. A checkpoint that
does not fit the config is refused before any image is read. Files that
cannot be read are reported and skipped; the exit code is 1 when nothing
could be predicted or the model files are refused, 2 for bad arguments.

Scores are calibrated and images below the model's "unknown" threshold are
marked unknown (best guess kept) when the checkpoint stores a calibration
(training with CalibrationHook, or tools/analysis/calibrate.py); --accept
picks the stored threshold for another share of accepted val images,
--threshold sets one by hand on the best calibrated score.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import torch
from rich.console import Console
from rich.table import Table

from fruit_ext.apis import (BatchInferencer, Prediction, collect_images,
                            draw_prediction, load_rgb, write_predictions)
from fruit_ext.apis.image_inputs import Problem
from fruit_ext.apis.work_dir import (WorkDirError, add_model_input_arguments,
                                     split_model_inputs)
from fruit_ext.compat.checkpoint import (CorruptCheckpointError,
                                         UntrustedCheckpointError)
from fruit_ext.engine.checkpoint_fit import CheckpointMismatchError
from fruit_ext.utils.cli import add_options, positive_int, probability

#: Model files that cannot be used: reported in one line, exit code 1.
MODEL_FILE_ERRORS = (CheckpointMismatchError, WorkDirError,
                     CorruptCheckpointError, UntrustedCheckpointError,
                     FileNotFoundError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (positionals are split by
    :func:`split_model_inputs`)."""
    parser = argparse.ArgumentParser(
        description='Top-k predictions for images, folders (recursive), '
        'glob patterns or .txt path lists.',
        usage='%(prog)s {CONFIG CHECKPOINT | WORK_DIR [CHECKPOINT] | '
        'CHECKPOINT} INPUT... [options]',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_model_input_arguments(parser)
    parser.add_argument('--out', help='write predictions to a .csv or .json')
    parser.add_argument('--show-dir',
                        help='write each image with its prediction here')
    parser.add_argument('--topk', type=positive_int, default=3,
                        help='classes listed per image')
    unknown = parser.add_mutually_exclusive_group()
    unknown.add_argument('--threshold', type=probability,
                         help='best (calibrated) score below this answers '
                         '"unknown" (default: the threshold stored with the '
                         'checkpoint, else 0)')
    unknown.add_argument('--accept', type=probability,
                         help='use the stored threshold that accepts this '
                         'share of in-class val images (0.7 to 1), e.g. 0.99')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation: average the logits of '
                        'each image and its mirror image')
    add_options(parser, '--batch-size', '--device')
    return parser


def check_device(parser: argparse.ArgumentParser, device: str) -> None:
    """Refuse a device string torch rejects, or CUDA on a host without it."""
    try:
        kind = torch.device(device).type
    except RuntimeError as error:
        parser.error(f'--device {device}: {error}')
    if kind == 'cuda' and not torch.cuda.is_available():
        parser.error(f'--device {device}: this host has no usable CUDA GPU '
                     '(torch.cuda.is_available() is False); use --device cpu')


def first_existing_file(path: str) -> str:
    """The first existing non-folder on the way from ``path`` up, or ''."""
    current = os.path.abspath(path)
    while True:
        if os.path.exists(current):
            return '' if os.path.isdir(current) else current
        parent = os.path.dirname(current)
        if parent == current:
            return ''
        current = parent


def check_outputs(parser: argparse.ArgumentParser,
                  args: argparse.Namespace) -> None:
    """Refuse --out/--show-dir that cannot be written, before inference."""
    if args.out:
        if not args.out.lower().endswith(('.csv', '.json')):
            parser.error(f'--out {args.out}: use a .csv or .json file name')
        if os.path.isdir(args.out):
            parser.error(f'--out {args.out} is a folder; give a file name')
        blocker = first_existing_file(os.path.dirname(
            os.path.abspath(args.out)))
        if blocker:
            parser.error(f'--out {args.out}: {blocker} is a file, so no '
                         'folder can be made there')
    if args.show_dir:
        blocker = first_existing_file(args.show_dir)
        if blocker:
            parser.error(f'--show-dir {args.show_dir}: {blocker} is a file, '
                         'not a folder')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments, all checked before any model is loaded."""
    parser = build_parser()
    args = parser.parse_args(argv)
    split_model_inputs(parser, args)
    check_device(parser, args.device)
    check_outputs(parser, args)
    return args


def print_table(console: Console, predictions: Sequence[Prediction],
                root: str) -> None:
    """Print one row per image: best class, score and the other top-k."""
    table = Table(title=f'{len(predictions)} predictions')
    for column in ('image', 'prediction', 'score', 'runners-up'):
        table.add_column(column, overflow='fold')
    for prediction in predictions:
        best = prediction.pred_class
        alias = prediction.alias(prediction.pred_label)
        if alias and alias != best:
            best = f'{best} ({alias})'
        if prediction.unknown:
            best = f'unknown (best guess {best})'
        # an unknown answer lists the guesses it did not trust
        shown = prediction.topk if prediction.unknown else prediction.topk[1:]
        others = ', '.join(f'{name} {score:.2f}' for _, name, score in shown)
        table.add_row(
            osp.relpath(prediction.path, root), best,
            f'{prediction.pred_score:.3f}', others,
            style='yellow' if prediction.unknown else None)
    console.print(table)


def drawn_file_names(paths: Sequence[str], show_dir: str) -> Dict[str, str]:
    """A distinct picture path for every image, mirroring the input tree."""
    root = osp.commonpath([osp.dirname(osp.abspath(p)) for p in paths])
    names: Dict[str, str] = {}
    used = set()
    for path in paths:
        stem = osp.splitext(osp.relpath(osp.abspath(path), root))[0]
        candidate, count = f'{stem}.png', 1
        while candidate in used:
            candidate, count = f'{stem}-{count}.png', count + 1
        used.add(candidate)
        names[path] = osp.join(show_dir, candidate)
    return names


def report_skipped(console: Console, skipped: List[Problem]) -> None:
    """Say which inputs were skipped and why."""
    for path, reason in skipped:
        console.print(f'[red]skipped[/red] {path}: {reason}', highlight=False)


def main() -> int:
    """Predict, print, write; returns the exit code."""
    args = parse_args()
    console = Console()
    try:
        inferencer = BatchInferencer(args.model, args.checkpoint,
                                     device=args.device,
                                     batch_size=args.batch_size)
    except MODEL_FILE_ERRORS as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    paths, missing = collect_images(args.inputs)
    try:
        predictions, unreadable = inferencer.predict(
            paths, topk=args.topk, threshold=args.threshold,
            accept=args.accept, tta=args.tta)
    except ValueError as error:  # --accept without a calibration
        print(f'error: {error}', file=sys.stderr)
        return 1
    skipped = missing + unreadable
    if predictions:
        root = osp.commonpath(
            [osp.dirname(osp.abspath(p.path)) for p in predictions])
        print_table(console, predictions, root)
    report_skipped(console, skipped)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        write_predictions(predictions, skipped, args.out)
        console.print(f'predictions written to {args.out}')
    if args.show_dir and predictions:
        targets = drawn_file_names([p.path for p in predictions],
                                   args.show_dir)
        for prediction in predictions:
            out_file = targets[prediction.path]
            os.makedirs(osp.dirname(out_file), exist_ok=True)
            # the picture the model saw (upright, alpha on white, ...)
            image = load_rgb(prediction.path)
            draw_prediction(image, prediction, inferencer.classes,
                            inferencer.aliases, out_file)
        console.print(f'pictures written to {args.show_dir}')
    unknown = sum(p.unknown for p in predictions)
    rule = (f', unknown below {predictions[0].score_kind} '
            f'{predictions[0].threshold:.4g}, temperature '
            f'{predictions[0].temperature:.3g}') if predictions else ''
    console.print(f'{len(predictions)} predicted ({unknown} unknown), '
                  f'{len(skipped)} skipped' + (rule if inferencer.calibration
                                               or args.threshold else ''))
    return 0 if predictions else 1


if __name__ == '__main__':
    sys.exit(main())
