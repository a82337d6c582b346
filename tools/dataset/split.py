"""Split a raw ``root/<class>/*`` photo folder into the fruit30 layout.

    python tools/dataset/split.py data/my_photos data/my_photos_split
    python tools/dataset/split.py RAW OUT --ratio 0.7 0.2 0.1 --symlink
    python tools/dataset/split.py RAW OUT --group-by exif-time 10

Per-class (stratified) split, deterministic for a seed. Near-duplicate
images (the same groups as find_duplicates.py; --no-align for the fast
variant on very large folders) and, with ``--group-by exif-time SECONDS``,
bursts of photos taken within that many seconds stay together in one
split, so val never holds a copy of a training photo. The source is only
read, unless ``--move``. Writes ``OUT/split_counts.csv`` and
``OUT/split_counts.png`` and prints the per-class counts.
"""
import argparse
import os.path as osp
import sys

from rich.console import Console

from fruit_ext.datasets.class_counts import (plot_counts, print_counts,
                                             write_counts_csv)
from fruit_ext.datasets.duplicates import NearDupSettings
from fruit_ext.datasets.health.groups import (burst_groups, merge_groups,
                                              near_duplicate_groups)
from fruit_ext.datasets.hidden import describe_hidden
from fruit_ext.datasets.split import apply_split, plan_split
from fruit_ext.utils.cli import add_options, run_tool, tool_parser


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument('src', help='root holding one folder per class')
    parser.add_argument('out', help='output root (train/, val/[, test/])')
    parser.add_argument(
        '--ratio', type=float, nargs='+', default=[0.8, 0.2],
        metavar='R', help='train val [test] fractions')
    add_options(parser, '--seed')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--symlink', action='store_true',
                      help='link to the source files instead of copying')
    mode.add_argument('--move', action='store_true',
                      help='move the source files (changes the source)')
    parser.add_argument('--no-near-dups', action='store_true',
                        help='do not look for near-duplicates (they may '
                        'land in different splits)')
    NearDupSettings.add_options(parser)
    parser.add_argument('--group-by', nargs=2, metavar=('exif-time', 'S'),
                        help='also keep photos of a class taken within S '
                        'seconds of each other (EXIF time) in one split')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the counts, write nothing')
    add_options(parser, '--workers', '--force', workers=1)
    args = parser.parse_args()
    if args.group_by:
        try:
            args.burst_seconds = float(args.group_by[1])
        except ValueError:
            args.burst_seconds = -1
        if args.group_by[0] != 'exif-time' or args.burst_seconds < 0:
            parser.error('--group-by takes exif-time SECONDS (>= 0), got '
                         + ' '.join(args.group_by))
    args.near = NearDupSettings.from_args(parser, args,
                                          used=not args.no_near_dups)
    return args


def find_groups(args: argparse.Namespace, console: Console) -> dict:
    """The groups to keep inside one split, with what was found said."""
    groupings = []
    if not args.no_near_dups:
        near = near_duplicate_groups(args.src, args.near, args.workers)
        console.print(f'{len(near)} image(s) in {len(set(near.values()))} '
                      'near-duplicate group(s) (--no-near-dups to ignore).')
        groupings.append(near)
    if args.group_by:
        bursts, missing = burst_groups(args.src, args.burst_seconds)
        console.print(f'{len(bursts)} image(s) in {len(set(bursts.values()))}'
                      f' burst(s) within {args.burst_seconds:g} s.')
        if missing:
            console.print(f'[yellow]warning:[/yellow] {missing} image(s) '
                          'carry no EXIF time and are split one by one.')
        groupings.append(bursts)
    return merge_groups(*groupings)


def split(args: argparse.Namespace, console: Console) -> int:
    """Plan the split, print its counts, write it unless a dry run.

    Args:
        args: The parsed options.
        console: Where to print.

    Returns:
        The exit status.
    """
    plan = plan_split(args.src, args.ratio, args.seed,
                      groups=find_groups(args, console))
    for warning in plan.warnings:
        console.print(f'[yellow]warning:[/yellow] {warning}')
    if plan.ignored:
        console.print(f'{plan.ignored} file(s) without an image '
                      'extension were left out.')
    if plan.hidden:
        console.print(describe_hidden(plan.hidden) + '; left out.')
    title = f'{args.src} split {"/".join(map(str, args.ratio))}, ' \
            f'seed {args.seed}'
    print_counts(plan.counts, title, console)
    if args.dry_run:
        console.print('Dry run: nothing written.')
        return 0
    mode = 'symlink' if args.symlink else 'move' if args.move else 'copy'
    apply_split(plan, args.out, mode, args.force)
    write_counts_csv(plan.counts, osp.join(args.out, 'split_counts.csv'))
    plot_counts(plan.counts, osp.join(args.out, 'split_counts.png'), title)
    console.print(f'Wrote {args.out} ({mode}), split_counts.csv and '
                  'split_counts.png.')
    return 0


def main() -> int:
    """Run the tool.

    Returns:
        The exit status (1 for a bad input).
    """
    args = parse_args()
    return run_tool(lambda console: split(args, console), error_code=1)


if __name__ == '__main__':
    sys.exit(main())
