"""Check an image-folder dataset before training on it.

    python tools/dataset/check.py data/fruit30_split
    python tools/dataset/check.py data/fruit30_split --quarantine data/broken
    python tools/dataset/check.py --restore data/broken

Decodes every image (in parallel) and reports broken files, odd formats,
duplicates and near-duplicates (the same groups as find_duplicates.py;
--no-align for the fast variant on very large folders), train/val leakage
and class problems. Writes a JSON report and a class-count chart. Exits 1
when something would break or corrupt training.
"""
import argparse
import os.path as osp
import sys

from rich.console import Console

from fruit_ext.datasets.check import check_dataset, print_summary
from fruit_ext.datasets.class_counts import plot_counts
from fruit_ext.datasets.duplicates import NearDupSettings
from fruit_ext.datasets.quarantine import quarantine, restore
from fruit_ext.utils.cli import add_options, run_tool, tool_parser


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument(
        'root', nargs='?',
        help='dataset root: ROOT/{train,val[,test]}/<class>/ or ROOT/<class>/')
    add_options(parser, '--min-size')
    parser.add_argument('--imbalance', type=float, default=10.0,
                        help='warn when the largest class has more than this '
                        'many times the images of the smallest')
    add_options(parser, '--workers')
    parser.add_argument('--report', default=None,
                        help='JSON report (none: ROOT/check_report.json; '
                        'the chart goes next to it as .png)')
    parser.add_argument('--quarantine', metavar='DIR', default=None,
                        help='move broken files to DIR (outside the dataset), '
                        'with a manifest to undo it')
    parser.add_argument('--near-dups', choices=('error', 'warning', 'off'),
                        default='error',
                        help='near-duplicate groups that span splits or '
                        'carry different labels: errors (exit 1), warnings, '
                        'or not looked for')
    NearDupSettings.add_options(parser)
    parser.add_argument('--restore', metavar='DIR', default=None,
                        help='put the files quarantined in DIR back')
    args = parser.parse_args()
    if bool(args.root) == bool(args.restore):
        parser.error('give a dataset ROOT, or --restore DIR alone')
    args.near = NearDupSettings.from_args(
        parser, args, used=args.near_dups != 'off' and not args.restore)
    return args


def restore_files(folder: str, console: Console) -> int:
    """Put quarantined files back; exit status 1 if any could not be."""
    restored, problems = restore(folder)
    for problem in problems:
        console.print(f'[red]not restored:[/red] {problem}')
    console.print(f'Restored {len(restored)} file(s).')
    return 1 if problems else 0


def check(args: argparse.Namespace, console: Console) -> int:
    """Check the dataset, quarantine if asked, write the report.

    Args:
        args: The parsed options.
        console: Where to print.

    Returns:
        The report's exit status.
    """
    report = check_dataset(args.root, min_size=args.min_size,
                           workers=args.workers,
                           imbalance=args.imbalance,
                           near_duplicates=args.near_dups != 'off',
                           near=args.near,
                           near_severity=args.near_dups)
    if args.quarantine:
        moved = quarantine(report, args.quarantine)
        console.print(f'Moved {len(moved)} broken file(s) to '
                      f'{args.quarantine} (undo: --restore '
                      f'{args.quarantine}).')
    print_summary(report, console)
    json_path = args.report or osp.join(args.root, 'check_report.json')
    report.to_json(json_path)
    plot_counts(report.counts, osp.splitext(json_path)[0] + '.png',
                f'{args.root}: loadable images per class')
    console.print(f'Report: {json_path}')
    return report.exit_code


def main() -> int:
    """Run the tool.

    Returns:
        The exit status (2 for a bad input).
    """
    args = parse_args()
    if args.restore:
        return run_tool(lambda console: restore_files(args.restore, console))
    return run_tool(lambda console: check(args, console))


if __name__ == '__main__':
    sys.exit(main())
