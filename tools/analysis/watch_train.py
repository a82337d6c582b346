#!/usr/bin/env python
"""Print one line per epoch (loss, val top-1, ETA) of a training's output.

Reads an epoch-based mmengine training log from standard input as it is
written, e.g. behind ``tee`` so that the full log still goes to a file::

    mim train mmpretrain CONFIG 2>&1 | tee -a train.log \\
        | python tools/analysis/watch_train.py --config CONFIG

    epoch   1/40  loss 3.372  ETA 0:04:51
    ...
    epoch   5/40  loss 2.914  val top-1 14.58 % (best)  ETA 0:04:02

It also reads a finished log: ``python tools/analysis/watch_train.py
--config CONFIG < train.log``.
"""
import argparse
import sys
from typing import Optional, Tuple


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options.

    Args:
        argv: Arguments (``sys.argv[1:]`` when None).

    Returns:
        The parsed options.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        '--config', help='training config: max_epochs, val_interval and '
        'val_begin are read from its train_cfg')
    parser.add_argument(
        '--max-epochs', type=int, default=None,
        help='length of the run (overrides the config\'s)')
    parser.add_argument(
        '--val-interval', type=int, default=None,
        help='validation interval in epochs (overrides the config\'s; 1 '
        'without a config)')
    return parser.parse_args(argv)


def schedule(config: Optional[str]) -> Tuple[Optional[int], int, int]:
    """``max_epochs``, ``val_interval`` and ``val_begin`` of a config.

    Args:
        config: Config path, or None.

    Returns:
        The three values (None, 1, 1 without a config).
    """
    if not config:
        return None, 1, 1
    from mmengine.config import Config
    train_cfg = Config.fromfile(config).get('train_cfg') or {}
    return (train_cfg.get('max_epochs'), train_cfg.get('val_interval', 1),
            train_cfg.get('val_begin', 1))


def main(argv=None) -> int:
    """Copy summary lines of standard input's log to standard output.

    Args:
        argv: Arguments (``sys.argv[1:]`` when None).

    Returns:
        The exit code: 0.
    """
    args = parse_args(argv)
    from fruit_ext.engine.epoch_lines import EpochLines
    max_epochs, val_interval, val_begin = schedule(args.config)
    lines = EpochLines(
        max_epochs=args.max_epochs or max_epochs,
        val_interval=args.val_interval or val_interval, val_begin=val_begin)
    for line in sys.stdin:
        for summary in lines.feed(line):
            print(summary, flush=True)
    for summary in lines.flush():
        print(summary, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
