"""Label mistakes by confident learning on out-of-fold probabilities.

A model trained on an image has seen its label: a mislabelled photo it
memorised gets a low loss and hides (fastai's ``ImageClassifierCleaner``
and mmpretrain's ``analyze_results.py`` rank by that in-sample loss).
Confident learning (Northcutt et al., JAIR 2021) uses probabilities from
models that never saw the image: K folds, each predicted by a model fitted
on the other K-1; ``cleanlab.filter.find_label_issues`` then flags them.
Its default rule (``prune_by_noise_rate``) flagged ~3x the planted flips on
Fashion-MNIST (docs/data.md); ours, chosen on pilot seeds, is
``low_self_confidence``: cleanlab's estimate of how many labels are wrong
(``cleanlab.count.num_label_issues``, the off-diagonal of the confident
joint), taken as the images least likely under their given label.

The model is the caller's: ``fit_predict(train_index, test_index)``
returns probabilities for ``test_index`` from a model fitted on
``train_index`` (``tools/analysis/find_label_issues.py`` fits the linear
probe's head on cached features, or trains the config with its Runner).
"""
import csv
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import numpy as np

FitPredict = Callable[[np.ndarray, np.ndarray], np.ndarray]


def fold_indices(labels: Sequence[int], folds: int = 5,
                 seed: int = 0) -> List[np.ndarray]:
    """Stratified folds (held-out index arrays) covering every image once.

    Args:
        labels: Given labels.
        folds: K, at least 2.
        seed: Shuffling seed.

    Returns:
        K index arrays.
    """
    from sklearn.model_selection import StratifiedKFold
    labels = np.asarray(labels)
    if folds < 2:
        raise ValueError(f'folds must be at least 2, got {folds}')
    smallest = np.bincount(labels).min(initial=len(labels))
    if smallest < folds:  # sklearn would warn and leave folds without it
        counts = np.bincount(labels)
        small = [int(c) for c in np.flatnonzero((counts > 0) &
                                                (counts < folds))]
        if small:
            raise ValueError(f'classes {small} have fewer than {folds} '
                             'images: use fewer --folds or add images')
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)),
                                               labels)]


def out_of_fold_probs(labels: Sequence[int], fit_predict: FitPredict,
                      folds: int = 5, seed: int = 0) -> np.ndarray:
    """Probabilities for every image from a model that never saw it.

    Args:
        labels: Given labels (N,).
        fit_predict: ``(train_index, test_index) -> (len(test), C)``.
        folds: K.
        seed: Fold seed.

    Returns:
        (N, C) probabilities.
    """
    labels = np.asarray(labels)
    probs = None
    for test in fold_indices(labels, folds, seed):
        train = np.setdiff1d(np.arange(len(labels)), test)
        fold = np.asarray(fit_predict(train, test), dtype=np.float64)
        if probs is None:
            probs = np.zeros((len(labels), fold.shape[1]))
        probs[test] = fold
    return probs


#: ``cleanlab.filter.find_label_issues``'s ``filter_by`` rules
FILTERS = ('prune_by_noise_rate', 'prune_by_class', 'both',
           'confident_learning', 'predicted_neq_given',
           'low_normalized_margin', 'low_self_confidence')
#: rules whose flag count ``frac_noise`` scales (cleanlab ignores it
#: for the others)
FRAC_NOISE_FILTERS = FILTERS[:3]
DEFAULT_FILTER = 'low_self_confidence'  # docs/data.md: chosen on pilot seeds


def find_issues(labels: Sequence[int], probs: np.ndarray,
                filter_by: str = DEFAULT_FILTER,
                frac_noise: float = 1.0) -> np.ndarray:
    """Confident-learning label issues, most suspect first.

    Args:
        labels: Given labels (N,).
        probs: (N, C) out-of-fold probabilities.
        filter_by: Which images cleanlab flags, one of :data:`FILTERS`.
        frac_noise: Flag only this fraction of the estimated number of
            issues (0-1]; only with :data:`FRAC_NOISE_FILTERS`.

    Returns:
        Indices of the suspected images.
    """
    from cleanlab.filter import find_label_issues
    if filter_by not in FILTERS:
        raise ValueError(f'filter_by {filter_by!r}: use one of '
                         + ', '.join(FILTERS))
    if not 0 < frac_noise <= 1:
        raise ValueError(f'frac_noise {frac_noise}: must be in (0, 1]')
    if frac_noise != 1 and filter_by not in FRAC_NOISE_FILTERS:
        raise ValueError(f'frac_noise applies to '
                         f'{", ".join(FRAC_NOISE_FILTERS)} only, not '
                         f'{filter_by!r}')
    return np.asarray(find_label_issues(
        np.asarray(labels), probs, filter_by=filter_by,
        frac_noise=frac_noise,
        return_indices_ranked_by='self_confidence'), dtype=np.int64)


def loss_ranking(labels: Sequence[int], probs: np.ndarray) -> np.ndarray:
    """All images by decreasing cross-entropy of the given label.

    The in-sample baseline ranks a model's own training images this way.

    Args:
        labels: Given labels (N,).
        probs: (N, C) probabilities.

    Returns:
        Indices, highest loss first.
    """
    labels = np.asarray(labels)
    given = probs[np.arange(len(labels)), labels]
    return np.argsort(-(-np.log(np.clip(given, 1e-12, 1))), kind='stable')


def score_flags(flagged: Sequence[int], truth: Sequence[int]) -> Dict:
    """Precision, recall and F1 of flagged images against known mistakes.

    Args:
        flagged: Indices flagged.
        truth: Indices truly mislabelled.

    Returns:
        ``{'flagged', 'precision', 'recall', 'f1'}``.
    """
    flagged, truth = set(int(i) for i in flagged), set(int(i) for i in truth)
    hits = len(flagged & truth)
    precision = hits / len(flagged) if flagged else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return dict(flagged=len(flagged), precision=precision, recall=recall,
                f1=f1)


@dataclass
class LabelIssue:
    """One suspected mistake.

    Args:
        path: Image path.
        given: Class folder it is filed under.
        suggested: Class the out-of-fold model prefers.
        score: Out-of-fold probability of the given label (low: suspect).
        suggested_prob: Out-of-fold probability of the suggested class.
    """

    path: str
    given: str
    suggested: str
    score: float
    suggested_prob: float


def issue_rows(paths: Sequence[str], labels: Sequence[int],
               probs: np.ndarray, issues: Sequence[int],
               classes: Sequence[str]) -> List[LabelIssue]:
    """Rows for the CSV and the picture grid, in ``issues`` order.

    Args:
        paths: Image paths (N,).
        labels: Given labels (N,).
        probs: (N, C) out-of-fold probabilities.
        issues: Indices, most suspect first.
        classes: Class names.

    Returns:
        The rows.
    """
    rows = []
    for i in issues:
        best = int(np.argmax(probs[i]))
        rows.append(LabelIssue(paths[i], classes[labels[i]], classes[best],
                               float(probs[i, labels[i]]),
                               float(probs[i, best])))
    return rows


def write_issues_csv(rows: Sequence[LabelIssue], path: str) -> None:
    """``path,given,suggested,score,suggested_prob``, most suspect first.

    Args:
        rows: From :func:`issue_rows`.
        path: CSV file to write.
    """
    with open(path, 'w', newline='', encoding='utf-8') as file:
        writer = csv.writer(file)
        writer.writerow(['path', 'given', 'suggested', 'score',
                         'suggested_prob'])
        for row in rows:
            writer.writerow([row.path, row.given, row.suggested,
                             f'{row.score:.4f}', f'{row.suggested_prob:.4f}'])
