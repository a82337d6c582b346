#!/usr/bin/env python
"""Generate a small, procedurally drawn stand-in for the fruit30 dataset.

The output has fruit30's layout, one folder per class with the Chinese class
names (``OUT/train/<class>/*.jpg|*.png``, ``OUT/val/...``,
``OUT/demo_meta.json``); the drawing is in :mod:`fruit_ext.datasets.demo`.
The same parameters give byte-identical files whatever the number of
workers.

Example::

    python tools/dataset/make_demo_fruit30.py --out data/fruit30_demo
"""
import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from fruit_ext.datasets.demo import DemoSpec, generate


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse command-line arguments.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The parsed arguments.
    """
    defaults = DemoSpec()
    parser = argparse.ArgumentParser(
        description='Generate a procedural stand-in for the fruit30 dataset '
        '(OUT/train/<class>/*.jpg, OUT/val/<class>/*.jpg).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='data/fruit30_demo',
                        help='output folder (default: %(default)s)')
    parser.add_argument('--train-per-class', type=int,
                        default=defaults.train_per_class,
                        help='training images per class (default: '
                        '%(default)s)')
    parser.add_argument('--val-per-class', type=int,
                        default=defaults.val_per_class,
                        help='validation images per class (default: '
                        '%(default)s)')
    parser.add_argument('--seed', type=int, default=defaults.seed,
                        help='random seed (default: %(default)s)')
    parser.add_argument('--min-size', type=int, default=defaults.min_size,
                        help='smallest image side (default: %(default)s)')
    parser.add_argument('--max-size', type=int, default=defaults.max_size,
                        help='largest image side (default: %(default)s)')
    parser.add_argument('--png-ratio', type=float,
                        default=defaults.png_ratio,
                        help='fraction of images saved as PNG (default: '
                        '%(default)s)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='worker processes (the CPU count here)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if OUT is up to date or holds '
                        'other content (removes OUT/train, OUT/val and the '
                        'metadata file first)')
    args = parser.parse_args(argv)
    if args.train_per_class < 0 or args.val_per_class < 0:
        parser.error('--train-per-class and --val-per-class must be >= 0')
    if not 16 <= args.min_size <= args.max_size:
        parser.error('need 16 <= --min-size <= --max-size')
    if not 0.0 <= args.png_ratio <= 1.0:
        parser.error('--png-ratio must be within [0, 1]')
    if args.seed < 0:
        parser.error('--seed must be >= 0')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status.
    """
    args = parse_args(argv)
    spec = DemoSpec(args.seed, args.train_per_class, args.val_per_class,
                    args.min_size, args.max_size, args.png_ratio)
    return generate(Path(args.out), spec, args.workers, args.force)


if __name__ == '__main__':
    sys.exit(main())
