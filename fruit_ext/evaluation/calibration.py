"""Temperature scaling, calibration error and "unknown" scores (numpy only).

* Temperature scaling (Guo et al., ICML 2017): one scalar ``T`` divides the
  logits; fitted on held-out (val) images by minimising the negative
  log-likelihood. The arg-max, hence top-1, does not change.
* Expected calibration error (ECE) over 15 equal-width confidence bins.
* Out-of-distribution scores, higher = more like the training classes: the
  maximum calibrated softmax (``'msp'``) and the negative energy
  ``T * logsumexp(logits / T)`` (``'energy'``, Liu et al., NeurIPS 2020).
* A threshold on such a score chosen on val for a target share of accepted
  in-class images.

The dict of :func:`fit_calibration` is what training, ``mim test`` and
``tools/analysis/calibrate.py`` store as ``meta['calibration']`` of a
checkpoint and as the ``calibration`` metadata of an exported ONNX file.
Nothing here imports torch, so the ONNX Predictor's results can be checked
against it.
"""
import math
from typing import Dict, Optional, Tuple

import numpy as np

#: The two out-of-distribution scores.
SCORES = ('msp', 'energy')
#: The one stored by default: on Fashion-MNIST with 2 classes held out it
#: rejected far more of the far class at the same acceptance of known images
#: (docs/inference.md, "Calibrated scores").
DEFAULT_SCORE = 'energy'
#: Bins of the expected calibration error.
ECE_BINS = 15
#: Lower-tail quantile levels of the val scores kept with a calibration, so
#: a threshold for another acceptance (0.70 to 1.00) needs no val images.
QUANTILE_LEVELS = np.round(np.arange(0, 0.3005, 0.001), 3)


def _check(logits: np.ndarray, labels: Optional[np.ndarray] = None):
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f'logits must be a non-empty (N, C) array, got '
                         f'shape {logits.shape}')
    if labels is None:
        return logits, None
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if labels.shape[0] != logits.shape[0] or labels.min() < 0 or \
            labels.max() >= logits.shape[1]:
        raise ValueError(f'labels must be {logits.shape[0]} class indices in '
                         f'[0, {logits.shape[1]})')
    return logits, labels


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise log-softmax of ``logits / temperature``."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    return scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``."""
    return np.exp(log_softmax(logits, temperature))


def nll(logits: np.ndarray, labels: np.ndarray,
        temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes."""
    logits, labels = _check(logits, labels)
    return float(-log_softmax(logits, temperature)[
        np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray,
                    bounds: Tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature that minimises the NLL on held-out images.

    The NLL is convex in ``1 / T``, so a golden-section search over
    ``log T`` finds its minimum.

    Args:
        logits: (N, C) raw class scores.
        labels: (N,) true classes.
        bounds: Smallest and largest temperature tried.

    Returns:
        The temperature (> 1: the model was over-confident).
    """
    logits, labels = _check(logits, labels)
    low, high = math.log(bounds[0]), math.log(bounds[1])
    ratio = (math.sqrt(5) - 1) / 2

    def cost(log_t: float) -> float:
        return nll(logits, labels, math.exp(log_t))
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    cost_a, cost_b = cost(a), cost(b)
    while high - low > 1e-5:
        if cost_a <= cost_b:
            high, b, cost_b = b, a, cost_a
            a = high - ratio * (high - low)
            cost_a = cost(a)
        else:
            low, a, cost_a = a, b, cost_b
            b = low + ratio * (high - low)
            cost_b = cost(b)
    return float(math.exp((low + high) / 2))


def reliability_bins(probs: np.ndarray, labels: np.ndarray,
                     bins: int = ECE_BINS) -> Dict[str, np.ndarray]:
    """Confidence, accuracy and count per equal-width confidence bin.

    Args:
        probs: (N, C) class probabilities.
        labels: (N,) true classes.
        bins: Number of bins over [0, 1].

    Returns:
        ``confidence``, ``accuracy`` (mean per bin, 0 where empty) and
        ``count`` arrays of length ``bins``, and the ``edges``.
    """
    probs, labels = _check(probs, labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side='left') - 1, 0,
                    bins - 1)  # bins are (lo, hi], the first [0, hi]
    count = np.bincount(index, minlength=bins).astype(np.float64)
    safe = np.maximum(count, 1)
    return dict(confidence=np.bincount(index, confidence, bins) / safe,
                accuracy=np.bincount(index, correct, bins) / safe,
                count=count, edges=edges)


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: sum over bins of share * |acc - conf|.

    Args:
        probs: (N, C) class probabilities.
        labels: (N,) true classes.
        bins: Equal-width confidence bins (15 as in Guo et al.).

    Returns:
        ECE as a fraction (0.05 = 5 %).
    """
    table = reliability_bins(probs, labels, bins)
    share = table['count'] / table['count'].sum()
    return float((share * np.abs(table['accuracy'] -
                                 table['confidence'])).sum())


def ood_score(logits: np.ndarray, temperature: float = 1.0,
              kind: str = 'msp') -> np.ndarray:
    """How much each image looks like a training class (higher: more).

    Args:
        logits: (N, C) raw class scores.
        temperature: Divides the logits first.
        kind: 'msp' (best calibrated probability, in [0, 1]) or 'energy'
            (``T * logsumexp(logits / T)``, unbounded).

    Returns:
        (N,) scores.
    """
    logits, _ = _check(logits)
    if kind == 'msp':
        return softmax(logits, temperature).max(axis=1)
    if kind == 'energy':
        scaled = logits / temperature
        top = scaled.max(axis=1)
        return temperature * (top + np.log(np.exp(
            scaled - top[:, None]).sum(axis=1)))
    raise ValueError(f"score must be one of {SCORES}, got {kind!r}")


def choose_threshold(scores: np.ndarray, accept: float = 0.95) -> float:
    """The largest threshold that accepts ``accept`` of these scores.

    An image is unknown when its score is below the threshold; on the
    images given (in-class val images) at least ``accept`` of them stay
    accepted.

    Args:
        scores: (N,) scores of in-class images.
        accept: Target share of them to accept, in (0, 1].

    Returns:
        The threshold.
    """
    if not 0 < accept <= 1:
        raise ValueError(f'accept must lie in (0, 1], got {accept}')
    scores = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    rejected = int(math.floor((1 - accept) * len(scores) + 1e-9))
    return float(scores[min(rejected, len(scores) - 1)])


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """Area under the ROC curve of telling known from unknown by score.

    The probability that a random known image scores higher than a random
    unknown one (ties count half): Mann-Whitney U / (n_known * n_unknown).

    Args:
        known: Scores of in-class images.
        unknown: Scores of out-of-distribution images.

    Returns:
        AUROC in [0, 1]; 0.5 is chance.
    """
    known = np.asarray(known, np.float64).reshape(-1)
    unknown = np.asarray(unknown, np.float64).reshape(-1)
    both = np.concatenate([known, unknown])
    order = np.argsort(both, kind='mergesort')
    ranks = np.empty(len(both))
    sorted_scores = both[order]
    # average ranks of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(both)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2
    u = ranks[:len(known)].sum() - len(known) * (len(known) + 1) / 2
    return float(u / (len(known) * len(unknown)))


def threshold_for_accept(calibration: Dict, accept: float) -> float:
    """A stored calibration's threshold for another acceptance target.

    Args:
        calibration: From :func:`fit_calibration` (its ``quantiles``).
        accept: Share of in-class val images to accept, 0.70 to 1.

    Returns:
        The threshold on the calibration's score.
    """
    levels = calibration.get('quantile_levels')
    if not levels or not (1 - levels[-1] - 1e-9 <= accept <= 1):
        raise ValueError(
            f'accept={accept}: this calibration keeps val score quantiles for'
            f' an acceptance of {1 - (levels or [0])[-1]:.2f} to 1 only; run '
            'tools/analysis/calibrate.py with --accept to fit it anew.')
    return float(np.interp(1 - accept, levels, calibration['quantiles']))


def fit_calibration(logits: np.ndarray, labels: np.ndarray,
                    score: str = DEFAULT_SCORE,
                    accept: float = 0.95) -> Dict:
    """Temperature, "unknown" threshold and their figures, from val images.

    Args:
        logits: (N, C) val logits of the model.
        labels: (N,) their true classes.
        score: 'msp' or 'energy', see :func:`ood_score`.
        accept: Share of val images the threshold keeps (default 95 %).

    Returns:
        The ``meta['calibration']`` dict: ``temperature``, ``score``,
        ``threshold``, ``accept``, ``ece_before``/``ece_after``,
        ``nll_before``/``nll_after``, ``val_images`` and the lower-tail
        ``quantile_levels``/``quantiles`` of the val scores.
    """
    logits, labels = _check(logits, labels)
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    temperature = round(fit_temperature(logits, labels), 6)
    scores = ood_score(logits, temperature, score)
    levels = [float(x) for x in QUANTILE_LEVELS]
    return dict(
        temperature=temperature, score=score,
        threshold=choose_threshold(scores, accept), accept=float(accept),
        ece_before=ece(softmax(logits), labels),
        ece_after=ece(softmax(logits, temperature), labels),
        nll_before=nll(logits, labels), nll_after=nll(logits, labels,
                                                      temperature),
        val_images=int(len(labels)), quantile_levels=levels,
        quantiles=[choose_threshold(scores, 1 - level) for level in levels])


def unknown_rule(calibration: Optional[Dict],
                 threshold: Optional[float] = None,
                 accept: Optional[float] = None) -> Dict:
    """Which temperature, score and threshold decide "unknown".

    A ``threshold`` given by hand is a probability on the best calibrated
    score ('msp'); ``accept`` takes the stored calibration's threshold for
    that share of accepted val images; else the stored threshold applies;
    without a calibration nothing is unknown. The ONNX ``Predictor``
    repeats this rule (``fruit_ext/apis/predictor.py``).

    Args:
        calibration: ``meta['calibration']`` of the model, or None.
        threshold: Explicit threshold on the best calibrated probability.
        accept: Share of in-class val images to accept (0.7 to 1).

    Returns:
        ``{'temperature', 'score', 'threshold'}``.
    """
    temperature = float(calibration['temperature']) if calibration else 1.0
    if threshold is not None:
        return dict(temperature=temperature, score='msp',
                    threshold=float(threshold))
    if accept is not None:
        if not calibration:
            raise ValueError(f'accept={accept}: the model has no calibration'
                             '; run tools/analysis/calibrate.py first.')
        return dict(temperature=temperature, score=calibration['score'],
                    threshold=threshold_for_accept(calibration, accept))
    if calibration:
        return dict(temperature=temperature, score=calibration['score'],
                    threshold=float(calibration['threshold']))
    return dict(temperature=1.0, score='msp', threshold=0.0)


def decide(logits: np.ndarray, rule: Dict) -> Dict[str, np.ndarray]:
    """Calibrated probabilities, "unknown" scores and decisions.

    Args:
        logits: (N, C) raw class scores.
        rule: From :func:`unknown_rule`.

    Returns:
        ``probs`` (N, C), ``scores`` (N,) and ``unknown`` (N,) booleans.
    """
    scores = ood_score(logits, rule['temperature'], rule['score'])
    return dict(probs=softmax(logits, rule['temperature']), scores=scores,
                unknown=scores < rule['threshold'])


def check_calibration(calibration, source: str) -> Optional[Dict]:
    """A stored calibration, checked; None when there is none.

    Args:
        calibration: ``meta['calibration']`` as read.
        source: The file it came from, for the message.

    Raises:
        ValueError: Not a dict with a positive temperature, a known score
            and a numeric threshold.
    """
    if calibration is None:
        return None
    ok = isinstance(calibration, dict) and \
        calibration.get('score') in SCORES
    try:
        ok = ok and math.isfinite(float(calibration['threshold'])) and \
            0 < float(calibration['temperature']) < math.inf
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"{source}: meta['calibration'] is not a valid calibration "
            f'({str(calibration)[:120]}); recalibrate with '
            'tools/analysis/calibrate.py or use a checkpoint without it.')
    return calibration
