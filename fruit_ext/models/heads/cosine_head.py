"""Cosine-similarity classifier head."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class CosineClsHead(ClsHead):
    """Classify by the scaled cosine between features and class weights.

    Features and class weight vectors are L2-normalised, so a class is
    scored by direction only; this transfers better than a linear layer when
    there are few images per class (Chen et al., "A Closer Look at Few-shot
    Classification", ICLR 2019). Drop-in for ``LinearClsHead``; the weight is
    ``fc.weight`` as there, so checkpoints of either head share key names.

    Args:
        num_classes: Number of classes.
        in_channels: Feature channels of the last backbone (or neck) stage.
        scale: Multiplier of the cosines (the softmax temperature's inverse).
        learnable_scale: Learn ``scale`` as a parameter (initialised to
            ``scale``) instead of keeping it fixed.
        init_cfg: Initialisation of the class weights.
        **kwargs: Other arguments of :class:`mmpretrain.models.ClsHead`
            (``loss``, ``topk``, ``cal_acc``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 scale: float = 16.0,
                 learnable_scale: bool = True,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(
                f'CosineClsHead: num_classes={num_classes} must be positive')
        if scale <= 0:
            raise ValueError(f'CosineClsHead: scale={scale} must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, num_classes, bias=False)
        scale_tensor = torch.tensor(float(scale))
        if learnable_scale:
            self.scale = nn.Parameter(scale_tensor)
        else:
            self.register_buffer('scale', scale_tensor)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The feature of the last stage.

        Args:
            feats: Features of each stage, each (N, in_channels).

        Returns:
            (N, in_channels) features.
        """
        return feats[-1]

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Scaled cosine logits.

        Args:
            feats: Features of each stage, each (N, in_channels).

        Returns:
            (N, num_classes) logits in ``[-scale, scale]``.
        """
        features = F.normalize(self.pre_logits(feats), dim=1)
        weight = F.normalize(self.fc.weight, dim=1)
        return self.scale * F.linear(features, weight)
