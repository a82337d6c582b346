"""Predict images, folders, globs or path lists with a trained classifier.

    python tools/infer.py CONFIG CHECKPOINT INPUT... [--out FILE.csv|FILE.json]
        [--show-dir DIR] [--topk K] [--device D] [--threshold T]

CONFIG may also be a model name from the model index (mobilenet-v2_fruit30).
Files that cannot be read are reported and skipped; the exit code is 1 only
when nothing could be predicted.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Sequence

import mmcv
from rich.console import Console
from rich.table import Table

from fruit_ext.apis import (BatchInferencer, Prediction, collect_images,
                            draw_prediction, write_predictions)
from fruit_ext.apis.image_inputs import Problem


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Top-k predictions for images, folders (recursive), '
        'glob patterns or .txt path lists.')
    parser.add_argument('config', help='config file or model-index name')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='image, folder, glob pattern or .txt list')
    parser.add_argument('--out', help='write predictions to a .csv or .json')
    parser.add_argument('--show-dir',
                        help='write each image with its prediction here')
    parser.add_argument('--topk', type=int, default=3,
                        help='classes listed per image')
    parser.add_argument('--threshold', type=float, default=0.0,
                        help='best score below this answers "unknown"')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    return parser.parse_args()


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
    if args.out and not args.out.lower().endswith(('.csv', '.json')):
        sys.exit(f'--out {args.out}: use a .csv or .json file name')
    console = Console()
    paths, missing = collect_images(args.inputs)
    inferencer = BatchInferencer(args.config, args.checkpoint,
                                 device=args.device,
                                 batch_size=args.batch_size)
    predictions, unreadable = inferencer.predict(
        paths, topk=args.topk, threshold=args.threshold)
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
            image = mmcv.imread(prediction.path, channel_order='rgb')
            draw_prediction(image, prediction, inferencer.classes,
                            inferencer.aliases, out_file)
        console.print(f'pictures written to {args.show_dir}')
    unknown = sum(p.unknown for p in predictions)
    console.print(f'{len(predictions)} predicted ({unknown} unknown), '
                  f'{len(skipped)} skipped')
    return 0 if predictions else 1


if __name__ == '__main__':
    sys.exit(main())
