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


def positive_int(text: str) -> int:
    """Parse a pixel count that must be at least 1.

    Args:
        text: The argument as typed.

    Returns:
        The number.

    Raises:
        argparse.ArgumentTypeError: Not a whole number >= 1.
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'must be a whole number of pixels >= 1 (e.g. 640), got {text!r}')
    return value


def quality_int(text: str) -> int:
    """Parse a JPEG/WebP quality, 1 to 100.

    Args:
        text: The argument as typed.

    Returns:
        The quality.

    Raises:
        argparse.ArgumentTypeError: Not a whole number in 1-100.
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(
            f'must be a whole number from 1 to 100, got {text!r}')
    return value


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('src', help='dataset root (any layout)')
    parser.add_argument('out', help='output root (same layout)')
    parser.add_argument('--max-side', type=positive_int, default=640,
                        help='longest side of the results, >= 1')
    parser.add_argument('--quality', type=quality_int, default=90,
                        help='JPEG/WebP quality, 1-100')
    parser.add_argument('--workers', type=int, default=None,
                        help='processes (none: all CPUs)')
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
        results = shrink_dataset(args.src, args.out, args.max_side,
                                 args.quality, args.workers, args.force)
    except (OSError, ValueError) as error:
        console.print(f'[red]error:[/red] {error}')
        return 2
    failed = [(path, outcome) for path, outcome in results
              if outcome.startswith('failed')]
    for path, outcome in failed:
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


if __name__ == '__main__':
    sys.exit(main())
