"""Figures drawn off-screen; matplotlib is imported on first use, so
``import fruit_ext`` does not pay for it (docs/architecture.md)."""
from typing import Any


def agg_figure(**kwargs: Any):
    """A matplotlib ``Figure`` attached to the Agg (file-only) canvas.

    Args:
        **kwargs: Passed to ``matplotlib.figure.Figure``.

    Returns:
        The figure; ``figure.savefig(path)`` writes it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure
