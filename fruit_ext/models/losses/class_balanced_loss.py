"""Class-balanced loss weights from the effective number of samples."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS


def effective_number_weights(class_counts: Sequence[int],
                             beta: float) -> torch.Tensor:
    """Class weights ``(1 - beta) / (1 - beta ** n_c)``, normalised.

    From Cui et al., "Class-Balanced Loss Based on Effective Number of
    Samples", CVPR 2019. ``beta = 0`` weighs all classes equally,
    ``beta -> 1`` approaches inverse class frequency. The weights are scaled
    to sum to the number of classes present; absent classes get 0.

    Args:
        class_counts: Training images per class.
        beta: Hyper-parameter in ``[0, 1)``.

    Returns:
        (C,) float32 weights.
    """
    if not 0 <= beta < 1:
        raise ValueError(f'effective_number_weights: beta={beta} must lie '
                         'in [0, 1).')
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.ndim != 1 or (counts < 0).any() or not (counts > 0).any():
        raise ValueError('effective_number_weights: class_counts must be '
                         'non-negative with at least one positive count, got '
                         f'{list(class_counts)}.')
    present = counts > 0
    weights = torch.zeros_like(counts)
    weights[present] = (1 - beta) / (1 - beta**counts[present])
    weights *= present.sum() / weights.sum()
    return weights.float()


@MODELS.register_module()
class ClassBalancedLoss(nn.Module):
    """Weigh another classification loss per sample by its class's weight.

    Each sample's loss is multiplied by :func:`effective_number_weights` of
    its true class (for soft targets, e.g. from Mixup, the target-weighted
    mix of class weights). The counts come from ``class_counts`` or, with
    ``dict(type='ClassCountsHook')`` in ``custom_hooks``, from the training
    set before training starts. Use it as the ``loss`` of any head.

    Args:
        loss: Config of the wrapped loss; it must take a per-sample
            ``weight`` (all mmpretrain classification losses do).
        beta: Effective-number hyper-parameter in ``[0, 1)``.
        class_counts: Training images per class; None to have
            ``ClassCountsHook`` fill them in.
    """

    def __init__(self,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 beta: float = 0.999,
                 class_counts: Optional[Sequence[int]] = None):
        super().__init__()
        self.loss = MODELS.build(loss)
        self.beta = beta
        # a plain attribute, not a buffer: recomputed from the data on every
        # run, never saved, and not averaged by EMA hooks
        self.class_weight: Optional[torch.Tensor] = None
        if class_counts is not None:
            self.set_class_counts(class_counts)

    def set_class_counts(self, class_counts: Sequence[int]) -> None:
        """Compute the class weights from the training set's counts.

        Args:
            class_counts: Training images per class.
        """
        self.class_weight = effective_number_weights(class_counts, self.beta)

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: Optional[torch.Tensor] = None, **kwargs) -> torch.Tensor:
        """The wrapped loss with per-sample class weights.

        Args:
            cls_score: (N, C) logits.
            label: (N,) class indices or (N, C) soft targets.
            weight: Extra (N,) per-sample weights, multiplied in.
            **kwargs: Passed to the wrapped loss (``avg_factor``, ...).

        Returns:
            The loss.
        """
        if self.class_weight is None:
            raise RuntimeError(
                'ClassBalancedLoss: class counts are not set. Add '
                "dict(type='ClassCountsHook') to custom_hooks or pass "
                'class_counts=[...] in the loss config.')
        if self.class_weight.numel() != cls_score.shape[1]:
            raise ValueError(
                f'ClassBalancedLoss: {self.class_weight.numel()} class counts'
                f' for {cls_score.shape[1]} classes in the scores.')
        class_weight = self.class_weight.to(cls_score)
        if label.ndim == 2 and label.shape[1] == cls_score.shape[1]:
            sample_weight = label.to(cls_score.dtype) @ class_weight
        else:
            sample_weight = class_weight[label.view(-1)]
        if weight is not None:
            sample_weight = sample_weight * weight
        return self.loss(cls_score, label, weight=sample_weight, **kwargs)
