"""Plot loss, learning rate and validation metrics per epoch, runs overlaid.

    python tools/analysis/plot_curves.py WORK_DIR [WORK_DIR ...]
        [--labels NAME ...] [--out-dir DIR]

Each WORK_DIR is a training work dir (every ``<timestamp>/vis_data/
scalars.json`` in it is read in order, so resumed runs join up) or one
``scalars.json`` file. Writes ``loss.png``, ``lr.png`` and one PNG per
validation metric (``accuracy_top1.png``, ...).
"""
import glob
import json
import os
import os.path as osp
import re
import sys
from collections import defaultdict
from typing import Dict, List

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mmpretrain.utils import load_json_log

from fruit_ext.utils.cli import tool_parser

#: Logged per iteration but not worth a plot.
IGNORED = ('data_time', 'time', 'memory', 'step', 'epoch', 'iter')

#: metric -> {epoch: value}
Curves = Dict[str, Dict[int, float]]


def scalar_files(path: str) -> List[str]:
    """The scalars.json files of a work dir, oldest first.

    Args:
        path: A work dir, a timestamp dir or a scalars.json file.

    Returns:
        Existing files.

    Raises:
        FileNotFoundError: None found.
    """
    if osp.isfile(path):
        return [path]
    files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    files += glob.glob(osp.join(path, 'vis_data', 'scalars.json'))
    if not files:
        raise FileNotFoundError(
            f'{path}: no <timestamp>/vis_data/scalars.json found; pass a '
            'work dir of a training run (LocalVisBackend writes them).')
    return files


def read_curves(files: List[str]) -> Curves:
    """Per-epoch values: mean training loss, last lr, validation metrics.

    Each file is read by mmpretrain's ``load_json_log`` (its train/val
    split of the records); later files (a resumed run) replace the epochs
    they repeat.

    Args:
        files: scalars.json files of one run, oldest first.

    Returns:
        ``{'loss': {epoch: mean}, 'lr': {epoch: last}, metric: {epoch: v}}``.

    Raises:
        ValueError: A file is not JSON lines (a run killed mid-write),
            naming the file.
    """
    curves: Curves = defaultdict(dict)
    for path in files:
        try:
            log = load_json_log(path)
        except json.JSONDecodeError as error:
            raise ValueError(f'{path}: not JSON lines ({error}); remove the '
                             'broken last line of a killed run') from None
        losses: Dict[int, List[float]] = defaultdict(list)
        for record in log['train']:
            epoch = int(record['epoch'])
            if 'loss' in record:
                losses[epoch].append(float(record['loss']))
            curves['lr'][epoch] = float(record['lr'])
        for record in log['val']:
            for key, value in record.items():
                if key not in IGNORED and isinstance(value, (int, float)):
                    curves[key][int(record['step'])] = float(value)
        for epoch, values in losses.items():
            curves['loss'][epoch] = sum(values) / len(values)
    return dict(curves)


def plot(metric: str, runs: Dict[str, Curves], out_file: str) -> None:
    """One PNG: ``metric`` per epoch, one line per run.

    Args:
        metric: Key in the curves.
        runs: Run label -> curves.
        out_file: PNG to write.
    """
    figure = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, curves in runs.items():
        points = sorted(curves.get(metric, {}).items())
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points],
                      marker='o', markersize=3, label=label)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel('epoch')
    axes.set_ylabel(metric)
    axes.set_title(metric)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(out_file)


def main() -> int:
    """Read every run and write one PNG per metric."""
    parser = tool_parser(__doc__)
    parser.add_argument('runs', nargs='+', metavar='WORK_DIR',
                        help='work dir or scalars.json')
    parser.add_argument('--labels', nargs='+',
                        help='legend names, one per run (none: the dir names)')
    parser.add_argument('--out-dir', default='curves',
                        help='folder for the PNGs')
    args = parser.parse_args()
    labels = args.labels or [osp.basename(osp.normpath(r)) for r in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f'{len(labels)} labels for {len(args.runs)} runs')
    try:
        runs = {label: read_curves(scalar_files(run))
                for label, run in zip(labels, args.runs)}
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    metrics = sorted({key for curves in runs.values() for key in curves},
                     key=lambda k: (k not in ('loss', 'lr'), k))
    os.makedirs(args.out_dir, exist_ok=True)
    for metric in metrics:
        out_file = osp.join(args.out_dir,
                            re.sub(r'[^\w.-]+', '_', metric) + '.png')
        plot(metric, runs, out_file)
        print(f'{metric}: {out_file}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
