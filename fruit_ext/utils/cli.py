"""Argument parsing and error reporting shared by ``tools/``.

Every tool gets the same help layout (defaults shown, the first paragraph
of its docstring as description), the same checked number types, and the
same one-line ``error: ...`` on a bad input instead of a traceback.
"""
import argparse
from typing import Callable, Optional, Tuple, Type

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
