"""Raw logits of a whole dataloader, for calibration."""
from typing import Tuple

import numpy as np
import torch
from mmengine.model import is_model_wrapper


def collect_logits(model: torch.nn.Module,
                   dataloader) -> Tuple[np.ndarray, np.ndarray]:
    """Logits (``mode='tensor'``) and true labels of every sample.

    Args:
        model: An mmpretrain classifier (a DDP wrapper is unwrapped).
        dataloader: A built dataloader whose samples carry ``gt_label``.

    Returns:
        ((N, C) float64 logits, (N,) int64 labels).
    """
    if is_model_wrapper(model):
        model = model.module
    training = model.training
    model.eval()
    logits, labels = [], []
    try:
        with torch.no_grad():
            for data in dataloader:
                batch = model.data_preprocessor(data, False)
                logits.append(model(batch['inputs'], mode='tensor')
                              .float().cpu().numpy())
                labels += [int(sample.gt_label[0])
                           for sample in batch['data_samples']]
    finally:
        model.train(training)
    return np.concatenate(logits).astype(np.float64), np.array(labels)
