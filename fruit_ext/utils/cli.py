"""Argument parsing and error reporting shared by ``tools/``.

Every tool gets the same help layout (defaults shown, the first paragraph
of its docstring as description), the same checked number types, and the
same one-line ``error: ...`` on a bad input instead of a traceback.
"""
import argparse
from typing import Any, Callable, Dict, Optional, Tuple, Type

from mmengine.config import DictAction
from rich.console import Console


def tool_parser(doc: Optional[str], **kwargs) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of ``doc``.

    Args:
        doc: The tool's module docstring.
        **kwargs: More ``ArgumentParser`` arguments (e.g. ``usage``).

    Returns:
        The parser, showing defaults in ``--help``.
    """
    first = ' '.join((doc or '').strip().split('\n\n')[0].split())
    return argparse.ArgumentParser(
        description=first,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter, **kwargs)


def int_in_range(low: int = 1, high: Optional[int] = None,
                 what: str = 'a whole number',
                 example: Optional[int] = None) -> Callable[[str], int]:
    """An argparse type for whole numbers from ``low`` to ``high``.

    Args:
        low: Smallest value accepted.
        high: Largest value accepted (None: no limit).
        what: How the error names the value, e.g. 'a whole number of
            pixels'.
        example: A good value, shown in the error.

    Returns:
        The converter; its ``ArgumentTypeError`` names the range, e.g.
        "must be a whole number of pixels >= 1 (e.g. 640), got '0'".
    """
    wanted = f'>= {low}' if high is None else f'from {low} to {high}'
    if example is not None:
        wanted += f' (e.g. {example})'

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and
                                            value > high):
            raise argparse.ArgumentTypeError(
                f'must be {what} {wanted}, got {text!r}')
        return value

    return convert


positive_int = int_in_range(1)


def probability(text: str) -> float:
    """An argparse type for a score between 0 and 1.

    Args:
        text: The argument as typed.

    Returns:
        The number.
    """
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f'must be a score between 0 and 1, got {text!r}')
    return value


def run_tool(body: Callable[[Console], int],
             errors: Tuple[Type[BaseException], ...] = (OSError, ValueError),
             error_code: int = 2) -> int:
    """Run a tool's work, turning expected errors into one red line.

    Args:
        body: The work; gets the console, returns the exit status.
        errors: Exceptions that are the user's input, not our bugs.
        error_code: Exit status for them.

    Returns:
        The exit status.
    """
    console = Console()
    try:
        return body(console)
    except errors as error:
        console.print(f'[red]error:[/red] {error}', soft_wrap=True,
                      highlight=False)
        return error_code


# One definition of each option that several tools take with one meaning;
# a tool names those it takes (``add_options``) and sets its own default.
OPTIONS: Dict[str, Dict[str, Any]] = {
    'config': dict(metavar='CONFIG|WORK_DIR',
                   help='config file, model-index name, or training work '
                   'dir (its dumped config and best.pth)'),
    'checkpoint': dict(nargs='?', help='checkpoint file (.pth or '
                       '.safetensors); optional after a work dir'),
    '--device': dict(default='cpu', help='torch device, e.g. cpu, cuda:0'),
    '--cfg-options': dict(nargs='+', action=DictAction,
                          help='override config settings, key=value '
                          '(e.g. data_root=DIR)'),
    '--batch-size': dict(type=positive_int, default=32,
                         help='images per batch'),
    '--threads': dict(type=positive_int, help='torch (or onnxruntime) '
                      'threads (none: the library default)'),
    '--workers': dict(type=int, help='worker processes (none: all CPUs)'),
    '--min-size': dict(type=int, default=224,
                       help='report images with a smaller side (pixels)'),
    # near-duplicate matching: NearDupSettings.add_options in
    # fruit_ext/datasets/duplicates.py adds these with their defaults, and
    # its group description states them
    '--near-threshold': dict(type=int, metavar='BITS', help='Hamming '
                             'distance (of 64 bits) on both near-duplicate '
                             'hashes (none: the default of the check, with '
                             'or without --no-align)'),
    '--align': dict(type=float, metavar='MIN', help='near-duplicate pairs '
                    'must also correlate by at least MIN in fine detail with '
                    'one picture aligned inside the other (about 4 ms per '
                    'candidate pair)'),
    '--no-align': dict(action='store_true', help='the fast variant, for '
                       'very large folders: no aligned check, the smaller '
                       'threshold and crop grid; more look-alikes are '
                       'reported (add --confirm)'),
    '--crop-steps': dict(type=int, metavar='S', help='crop offsets per size '
                         'and axis hashed per image (none: the default of '
                         'the check, with or without --no-align)'),
    '--confirm': dict(type=int, nargs='?', metavar='BITS',
                      help='near-duplicate pairs must also be within BITS '
                      'of a 256-bit pHash: fewer look-alikes, but copies of '
                      'smooth photos may be missed'),
    '--seed': dict(type=int, default=0,
                   help='random seed: the same seed gives the same result'),
    '--checkpoint': dict(help="weights (none: the config's load_from)"),
    # benchmarks (tools/benchmark/)
    '--work-dir': dict(help='data, runs and results live here'),
    '--seeds': dict(nargs='+', type=int, default=[0, 1, 2],
                    help='seeds (images and training randomness), one run '
                    'each'),
    '--size': dict(type=int, default=64, help='input size in pixels'),
    '--epochs': dict(type=int, default=5, help='training epochs per run'),
    '--jobs': dict(type=int, default=2,
                   help='runs at a time (1 thread each)'),
    '--repeats': dict(type=int, default=5,
                      help='timed rounds per case; the median is reported'),
    '--warmup': dict(type=int, default=2,
                     help='untimed rounds before the timed ones'),
    # switches, off unless given
    **{flag: dict(action='store_true', help=text) for flag, text in (
        ('--force', 'write into a non-empty output folder'),
        ('--overwrite', 'replace an output that exists'),
        ('--report-only', 'train nothing, report the runs on disk'),
        ('--write-docs', 'also write the section of docs/benchmarks.md'))},
    # a Fashion-MNIST export (tools/dataset/export_fashion_mnist.py)
    '--source': dict(help='Fashion-MNIST folder with the *-idx*-ubyte.gz '
                     'files (none: /usr/share/datasets/fashion-mnist)'),
    # images per class of each split ("0: none" for test: optional)
    **{f'--{split}-per-class': dict(type=int, default=default,
                                    help=f'{split} images per class{note}')
       for split, default, note in (('train', 100, ''), ('val', 50, ''),
                                    ('test', 0, ' (0: none)'))},
}


def add_options(parser: argparse.ArgumentParser, *names: str,
                options: Optional[Dict[str, Dict[str, Any]]] = None,
                **changes: Any) -> None:
    """Add shared options to a tool's parser, in the order named.

    Args:
        parser: The tool's argument parser (or an argument group).
        *names: Keys of ``options``, e.g. ``'--seed', '--threads'``.
        options: The definitions (default: ``OPTIONS``).
        **changes: Per option, by its destination (``batch_size``): a new
            default, or a dict of argparse settings that replace the
            shared ones (e.g. ``dict(default=None, help=...)``).

    Example:
        >>> add_options(parser, '--seed', '--workers', workers=4)
    """
    options = OPTIONS if options is None else options
    for name in names:
        change = changes.pop(name.lstrip('-').replace('-', '_'), {})
        if not isinstance(change, dict):
            change = dict(default=change)
        parser.add_argument(name, **{**options[name], **change})
    if changes:
        raise TypeError(f'add_options: {sorted(changes)} not among {names}')
