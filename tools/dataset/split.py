"""Split a raw ``root/<class>/*`` photo folder into the fruit30 layout.

    python tools/dataset/split.py data/my_photos data/my_photos_split
    python tools/dataset/split.py RAW OUT --ratio 0.7 0.2 0.1 --symlink

Per-class (stratified) split, deterministic for a seed. The source is only
read, unless ``--move``. Writes ``OUT/split_counts.csv`` and
``OUT/split_counts.png`` and prints the per-class counts.
"""
import argparse
import os.path as osp
import sys

from rich.console import Console

from fruit_ext.datasets.class_counts import (plot_counts, print_counts,
                                             write_counts_csv)
from fruit_ext.datasets.split import apply_split, plan_split


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('src', help='root holding one folder per class')
    parser.add_argument('out', help='output root (train/, val/[, test/])')
    parser.add_argument(
        '--ratio', type=float, nargs='+', default=[0.8, 0.2],
        metavar='R', help='train val [test] fractions')
    parser.add_argument('--seed', type=int, default=0,
                        help='same seed, same split')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--symlink', action='store_true',
                      help='link to the source files instead of copying')
    mode.add_argument('--move', action='store_true',
                      help='move the source files (changes the source)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the counts, write nothing')
    parser.add_argument('--force', action='store_true',
                        help='write into a non-empty output folder')
    return parser.parse_args()


def main() -> int:
    """Run the tool.

    Returns:
        The exit status.
    """
    args = parse_args()
    console = Console()
    try:
        plan = plan_split(args.src, args.ratio, args.seed)
        for warning in plan.warnings:
            console.print(f'[yellow]warning:[/yellow] {warning}')
        if plan.ignored:
            console.print(f'{plan.ignored} file(s) without an image '
                          'extension were left out.')
        title = f'{args.src} split {"/".join(map(str, args.ratio))}, ' \
                f'seed {args.seed}'
        print_counts(plan.counts, title, console)
        if args.dry_run:
            console.print('Dry run: nothing written.')
            return 0
        mode = 'symlink' if args.symlink else 'move' if args.move else 'copy'
        apply_split(plan, args.out, mode, args.force)
    except (OSError, ValueError) as error:
        console.print(f'[red]error:[/red] {error}')
        return 1
    write_counts_csv(plan.counts, osp.join(args.out, 'split_counts.csv'))
    plot_counts(plan.counts, osp.join(args.out, 'split_counts.png'), title)
    console.print(f'Wrote {args.out} ({mode}), split_counts.csv and '
                  'split_counts.png.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
