"""Reliability diagram: accuracy against confidence, before and after."""
from typing import Dict, Optional

import numpy as np

from ..visualization import agg_figure
from .calibration import ECE_BINS, ece, reliability_bins, softmax

RELIABILITY_NAME = 'reliability.png'


def temperature_scaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities of ``logits / T`` from the softmax of ``logits``.

    ``log(p)`` differs from the logits by a constant per row, which the
    softmax ignores, so saved scores are enough.

    Args:
        probs: (N, C) softmax outputs.
        temperature: The fitted temperature.

    Returns:
        (N, C) calibrated probabilities.
    """
    return softmax(np.log(np.clip(probs, 1e-300, None)), temperature)


def draw_reliability(path: str, probs: np.ndarray, labels: np.ndarray,
                     temperature: Optional[float] = None,
                     bins: int = ECE_BINS) -> Dict[str, float]:
    """Write the reliability diagram; return the ECE before (and after).

    Args:
        path: PNG file to write.
        probs: (N, C) uncalibrated class probabilities.
        labels: (N,) true classes.
        temperature: Fitted temperature; without it only "before" is drawn.
        bins: Equal-width confidence bins.

    Returns:
        ``{'ece_before': ..., 'ece_after': ...}`` (fractions; no
        'ece_after' without a temperature).
    """
    curves = {'before': probs}
    if temperature is not None:
        curves[f'after (T = {temperature:.2f})'] = temperature_scaled(
            probs, temperature)
    figure = agg_figure(figsize=(5, 5), layout='constrained')
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color='grey', linestyle='--',
              label='perfectly calibrated')
    found = {}
    for (name, values), colour in zip(curves.items(), ('tab:red',
                                                       'tab:blue')):
        table = reliability_bins(values, labels, bins)
        error = ece(values, labels, bins)
        found['ece_before' if name == 'before' else 'ece_after'] = error
        used = table['count'] > 0
        axes.plot(table['confidence'][used], table['accuracy'][used],
                  marker='o', color=colour,
                  label=f'{name}: ECE {error:.1%}')
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel('confidence (best score)')
    axes.set_ylabel('accuracy')
    axes.set_title(f'Reliability, {len(labels)} images, {bins} bins')
    axes.legend(loc='upper left')
    figure.savefig(path, dpi=100)
    return found
