"""Cosine head and class-balanced loss on real tensors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import fruit_ext  # noqa: F401
from fruit_ext.models import effective_number_weights


def _samples(labels):
    return [DataSample().set_gt_label(int(label)) for label in labels]


def test_cosine_head_forward_loss_predict_and_gradients():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='CosineClsHead', num_classes=4,
                             in_channels=8, scale=10.0))
    head.init_weights()
    feats = (torch.randn(6, 8) * 5, )
    logits = head(feats)
    assert logits.shape == (6, 4)
    # scaled cosines: bounded by the scale and invariant to feature norm
    assert logits.abs().max() <= 10.0 + 1e-4
    assert torch.allclose(head((feats[0] * 7, )), logits, atol=1e-5)
    expected = 10.0 * F.normalize(feats[0]) @ F.normalize(head.fc.weight).T
    assert torch.allclose(logits, expected, atol=1e-5)

    loss = head.loss(feats, _samples([0, 1, 2, 3, 0, 1]))['loss']
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert head.fc.weight.grad.abs().sum() > 0
    assert head.scale.grad is not None and head.scale.grad.abs() > 0

    predictions = head.predict(feats)
    scores = torch.stack([p.pred_score for p in predictions])
    assert torch.allclose(scores.sum(1), torch.ones(6))
    assert [int(p.pred_label) for p in predictions] == \
        logits.argmax(1).tolist()


def test_cosine_head_fixed_scale_is_not_trained():
    head = MODELS.build(dict(type='CosineClsHead', num_classes=3,
                             in_channels=4, scale=5.0, learnable_scale=False))
    assert 'scale' not in dict(head.named_parameters())
    assert float(head.scale) == 5.0
    with pytest.raises(ValueError, match='scale=0'):
        MODELS.build(dict(type='CosineClsHead', num_classes=3, in_channels=4,
                          scale=0))


def test_effective_number_weights_match_the_formula():
    counts, beta = [100, 10, 1, 0], 0.99
    raw = np.array([(1 - beta) / (1 - beta**n) for n in counts[:3]])
    expected = np.append(raw / raw.sum() * 3, 0.0)
    weights = effective_number_weights(counts, beta)
    assert np.allclose(weights.numpy(), expected, rtol=1e-6)
    # beta 0: all classes equal
    assert torch.allclose(effective_number_weights([50, 5], 0.0),
                          torch.ones(2))
    with pytest.raises(ValueError, match='beta=1'):
        effective_number_weights(counts, 1)


@pytest.mark.parametrize('head_type', ['LinearClsHead', 'CosineClsHead'])
def test_class_balanced_loss_weighs_samples_by_class(head_type):
    torch.manual_seed(0)
    counts, beta = [40, 4, 8], 0.9
    head = MODELS.build(dict(
        type=head_type, num_classes=3, in_channels=5,
        loss=dict(type='ClassBalancedLoss', beta=beta, class_counts=counts)))
    feats = (torch.randn(4, 5), )
    labels = torch.tensor([0, 1, 2, 1])
    loss = head.loss(feats, _samples(labels))['loss']
    weights = effective_number_weights(counts, beta)
    per_sample = F.cross_entropy(head(feats), labels, reduction='none')
    assert torch.allclose(loss, (weights[labels] * per_sample).mean())
    loss.backward()
    assert head.fc.weight.grad.abs().sum() > 0


def test_class_balanced_loss_soft_targets_and_missing_counts():
    loss = MODELS.build(dict(
        type='ClassBalancedLoss', beta=0.5,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1)))
    scores = torch.randn(2, 3)
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        loss(scores, torch.tensor([0, 1]))
    loss.set_class_counts([1, 2, 4])
    weights = effective_number_weights([1, 2, 4], 0.5)
    soft = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    plain = MODELS.build(dict(type='LabelSmoothLoss', label_smooth_val=0.1))
    expected = plain(scores, soft, weight=soft @ weights)
    assert torch.allclose(loss(scores, soft), expected)
    with pytest.raises(ValueError, match='3 class counts for 4 classes'):
        loss(torch.randn(2, 4), torch.tensor([0, 1]))
