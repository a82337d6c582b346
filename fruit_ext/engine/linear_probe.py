"""Linear probe: the model's own head fitted to convergence on frozen features.

The backbone runs once, in eval mode, over the training set (features cached,
see :mod:`fruit_ext.engine.probe_features`); then a copy of the model's head
(``LinearClsHead``, ``CosineClsHead``, any head whose ``forward`` takes the
pre-logits features) is fitted by full-batch L-BFGS with the head's own loss
(label smoothing, class-balanced weights included) plus an L2 penalty, for
each weight decay of a grid; the one with the best val top-1 wins. The fit
starts from a fixed point (zeros, or class means for a cosine head), so it
does not depend on the random seed and every process fitting the same data
gets the same head.

Used by :class:`fruit_ext.engine.hooks.LinearProbeHook` (stage 1 of LP-FT),
by ``tools/analysis/linear_probe.py`` and from Python::

    from fruit_ext.engine import probe_config
    report = probe_config('configs/efficientnet-lite0_fruit.py')
    report['val_top1'], report['test_top1']
"""
import copy
import time
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_WEIGHT_DECAYS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
# L-BFGS stops when no gradient entry exceeds this: the objective is a mean
# loss, so 1e-6 is far below what changes a prediction
TOLERANCE_GRAD = 1e-6


@dataclass
class ProbeResult:
    """A fitted probe.

    Attributes:
        head_state: ``state_dict`` of the fitted head (load it into
            ``model.head``).
        weight_decay: The chosen weight decay.
        val_top1: Val top-1 (%) of the chosen head; None without val data.
        train_loss: Final training objective (loss + penalty).
        train_top1: Training top-1 (%).
        val_by_decay: Val top-1 of every weight decay tried.
        seconds: Fitting time (features excluded).
    """

    head_state: Dict[str, torch.Tensor]
    weight_decay: float
    val_top1: Optional[float]
    train_loss: float
    train_top1: float
    val_by_decay: Dict[float, float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict:
        """Plain-data summary (for logs and checkpoint meta)."""
        return dict(weight_decay=self.weight_decay, val_top1=self.val_top1,
                    train_loss=self.train_loss, train_top1=self.train_top1,
                    val_by_decay={f'{k:g}': v
                                  for k, v in self.val_by_decay.items()})


def _normalises_weights(head: nn.Module) -> bool:
    """Whether the head scores by direction only (a cosine head)."""
    return isinstance(getattr(head, 'scale', None), torch.Tensor) and \
        hasattr(head, 'fc') and getattr(head.fc, 'bias', None) is None


def init_head(head: nn.Module, feats: torch.Tensor,
              labels: torch.Tensor) -> None:
    """Deterministic starting point: zeros, or normalised class means.

    Args:
        head: The head to set in place (``fc`` holds the class weights).
        feats: (N, D) training features.
        labels: (N,) labels.
    """
    weight = head.fc.weight
    with torch.no_grad():
        if _normalises_weights(head):
            means = torch.zeros_like(weight)
            means.index_add_(0, labels, F.normalize(feats, dim=1).to(means))
            means[means.norm(dim=1) == 0] = 1.0  # a class without images
            weight.copy_(F.normalize(means, dim=1))
        else:
            weight.zero_()
            if getattr(head.fc, 'bias', None) is not None:
                head.fc.bias.zero_()


def _penalty(head: nn.Module, weight_decay: float) -> torch.Tensor:
    """0.5 x wd x ||class weights||^2, or of the scale for a cosine head."""
    if _normalises_weights(head):
        scale = head.scale
        return 0.5 * weight_decay * (scale**2).sum() if \
            scale.requires_grad else scale.new_zeros(())
    return 0.5 * weight_decay * (head.fc.weight**2).sum()


def _loss(head: nn.Module, feats: torch.Tensor,
          labels: torch.Tensor) -> torch.Tensor:
    logits = head((feats, ))
    return head.loss_module(logits, labels, avg_factor=len(labels))


def fit_head(head: nn.Module, feats: torch.Tensor, labels: torch.Tensor,
             weight_decay: float, max_iter: int = 300,
             init_state: Optional[Dict[str, torch.Tensor]] = None) -> float:
    """Fit the head in place by full-batch L-BFGS on cached features.

    Args:
        head: The head, with its loss (``loss_module``); fitted in place
            from :func:`init_head`'s starting point, or from
            ``init_state``.
        feats: (N, D) features.
        labels: (N,) labels.
        weight_decay: L2 penalty on the class weights (for a cosine head:
            on its learnable scale, the weights' norm being irrelevant).
        max_iter: L-BFGS iterations at most.
        init_state: Start from this head ``state_dict`` (warm start along
            a weight-decay path) instead of the fixed starting point.

    Returns:
        The final objective (loss + penalty).
    """
    if init_state is None:
        init_head(head, feats, labels)
    else:
        head.load_state_dict(init_state)
    head.train()
    params = [p for p in head.parameters() if p.requires_grad]
    optimizer = torch.optim.LBFGS(
        params, lr=1.0, max_iter=max_iter, history_size=20,
        tolerance_grad=TOLERANCE_GRAD, tolerance_change=1e-9,
        line_search_fn='strong_wolfe')

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        objective = _loss(head, feats, labels) + _penalty(head, weight_decay)
        objective.backward()
        return objective

    with torch.enable_grad():
        optimizer.step(closure)
        with torch.no_grad():
            final = float(_loss(head, feats, labels) +
                          _penalty(head, weight_decay))
    if _normalises_weights(head):  # same scores, unit-norm class weights
        with torch.no_grad():
            head.fc.weight.copy_(F.normalize(head.fc.weight, dim=1))
    return final


def _predict(head: nn.Module, feats: torch.Tensor) -> torch.Tensor:
    head.eval()
    return head((feats, )).argmax(dim=1)


@torch.no_grad()
def head_top1(head: nn.Module, feats: torch.Tensor,
              labels: torch.Tensor) -> float:
    """Top-1 accuracy (%) of a head on (N, D) features with (N,) labels."""
    return float((_predict(head, feats) == labels).float().mean() * 100)


@torch.no_grad()
def head_macro_recall(head: nn.Module, feats: torch.Tensor,
                      labels: torch.Tensor) -> float:
    """Mean per-class recall (%) of a head on (N, D) features, over the
    classes present in the (N,) labels."""
    pred = _predict(head, feats)
    recalls = [float((pred[labels == c] == c).float().mean())
               for c in labels.unique()]
    return 100 * sum(recalls) / len(recalls)


def _set_missing_class_counts(head: nn.Module, labels: torch.Tensor,
                              num_classes: int) -> None:
    """Give a class-balanced loss without counts the training counts."""
    counts = torch.bincount(labels, minlength=num_classes).tolist()
    for module in head.modules():
        if callable(getattr(module, 'set_class_counts', None)) and \
                getattr(module, 'class_weight', 0) is None:
            module.set_class_counts(counts)


def fit_probe(head: nn.Module, train: tuple, val: Optional[tuple] = None,
              weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
              default_weight_decay: float = 1e-3,
              max_iter: int = 300, warm_start: bool = True) -> ProbeResult:
    """Fit a copy of ``head`` for each weight decay; keep the best on val.

    Args:
        head: The model's head (not modified; copies are fitted).
        train: (features, labels) of the training set.
        val: (features, labels) of the val set; without it
            ``default_weight_decay`` is used.
        weight_decays: Grid to choose from on val (ties: the larger).
        default_weight_decay: Weight decay when there is no val set.
        max_iter: L-BFGS iterations per fit.
        warm_start: Start each fit from the previous (stronger decay) one:
            the weight-decay path, much faster than fixed starts and, for
            the convex linear-head objective, the same optimum.

    Returns:
        The best :class:`ProbeResult`.
    """
    start = time.perf_counter()
    decays = sorted(weight_decays, reverse=True) if val is not None else \
        [default_weight_decay]
    best, best_top1, val_by_decay, previous = None, None, {}, None
    for decay in decays:  # strongest first: each fit starts from the last
        candidate = copy.deepcopy(head).float().cpu()
        _set_missing_class_counts(candidate, train[1],
                                  candidate.fc.out_features)
        loss = fit_head(candidate, *train, weight_decay=decay,
                        max_iter=max_iter,
                        init_state=previous if warm_start else None)
        previous = copy.deepcopy(candidate.state_dict())
        top1 = head_top1(candidate, *val) if val is not None else None
        if val is not None:
            val_by_decay[decay] = top1
        if best is None or (top1 is not None and top1 > best_top1):
            best, best_top1 = (candidate, decay, loss), top1
    candidate, decay, loss = best
    return ProbeResult(
        head_state={k: v.detach().clone()
                    for k, v in candidate.state_dict().items()},
        weight_decay=decay, val_top1=best_top1, train_loss=loss,
        train_top1=head_top1(candidate, *train), val_by_decay=val_by_decay,
        seconds=time.perf_counter() - start)
