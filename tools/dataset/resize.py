"""Shrink a dataset once so that no epoch decodes full-size photos.

    python tools/dataset/resize.py data/fruit30_split data/fruit30_640

Same layout, longer side at most --max-side, EXIF orientation applied,
smaller images copied unchanged. Files that cannot be decoded are listed and
left out (exit status 1); files without an image extension are listed as not
copied.
"""
import argparse
import sys

from rich.console import Console

from fruit_ext.datasets.shrink import shrink_dataset
from fruit_ext.utils.cli import (add_options, int_in_range, run_tool,
                                  tool_parser)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument('src', help='dataset root (any layout)')
    parser.add_argument('out', help='output root (same layout)')
    parser.add_argument('--max-side', default=640,
                        type=int_in_range(1, what='a whole number of pixels',
                                      example=640),
                        help='longest side of the results, >= 1')
    parser.add_argument('--quality', type=int_in_range(1, 100), default=90,
                        help='JPEG/WebP quality, 1-100')
    add_options(parser, '--workers', '--force')
    return parser.parse_args()


def shrink(args: argparse.Namespace, console: Console) -> int:
    """Shrink the dataset and list what was left out.

    Args:
        args: The parsed options.
        console: Where to print.

    Returns:
        The exit status: 1 when a file could not be decoded.
    """
    results = shrink_dataset(args.src, args.out, args.max_side, args.quality,
                             args.workers, args.force)
    failed = [outcome for _, outcome in results
              if outcome.startswith('failed')]
    for outcome in failed:
        console.print(f'[red]{outcome}[/red]', soft_wrap=True)
    skipped = [(path, outcome) for path, outcome in results
               if outcome.startswith('skipped')]
    for path, outcome in skipped:  # not images: never silently dropped
        console.print(f'[yellow]not copied[/yellow] {path}: {outcome}',
                      soft_wrap=True, highlight=False)
    shrunk = sum(outcome == 'shrunk' for _, outcome in results)
    copied = len(results) - shrunk - len(failed) - len(skipped)
    console.print(f'{args.out}: {shrunk} image(s) shrunk to at most '
                  f'{args.max_side} px, {copied} copied unchanged, '
                  f'{len(failed)} left out as broken, {len(skipped)} '
                  'not copied (no image extension).')
    return 1 if failed else 0


def main() -> int:
    """Run the tool.

    Returns:
        The exit status.
    """
    args = parse_args()
    return run_tool(lambda console: shrink(args, console))


if __name__ == '__main__':
    sys.exit(main())
