"""Linear probe: fitting on cached features, choosing weight decay on val."""
import sys

import pytest
import torch
from mmpretrain.registry import MODELS

import fruit_ext  # noqa: F401  (registers the heads and losses)
from conftest import REPO, run, write_class_tree
from fruit_ext.engine import fit_head, fit_probe, head_top1


def separable(n_per_class: int = 20, classes: int = 4, dim: int = 16,
              seed: int = 0):
    """Features of well separated classes (a cluster per class)."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator) * 4
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    feats = centres[labels] + 0.3 * torch.randn(
        len(labels), dim, generator=generator)
    return feats.relu(), labels  # non-negative, like pooled ReLU features


def head(kind: str, **loss):
    loss = loss or dict(type='CrossEntropyLoss')
    return MODELS.build(dict(type=kind, num_classes=4, in_channels=16,
                             loss=loss))


@pytest.mark.parametrize('kind', ['LinearClsHead', 'CosineClsHead'])
def test_probe_reaches_near_zero_training_loss_on_separable_features(kind):
    feats, labels = separable()
    fitted = head(kind)
    loss = fit_head(fitted, feats, labels, weight_decay=1e-6, max_iter=500)
    assert loss < 0.02, loss
    assert head_top1(fitted, feats, labels) == 100.0
    if kind == 'CosineClsHead':  # unit-norm class weights, scale learnt
        norms = fitted.fc.weight.norm(dim=1)
        assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_probe_is_deterministic_and_leaves_the_model_head_alone():
    feats, labels = separable()
    model_head = head('LinearClsHead')
    before = {k: v.clone() for k, v in model_head.state_dict().items()}
    torch.manual_seed(1)
    first = fit_probe(model_head, (feats, labels), (feats, labels),
                      weight_decays=(1e-3, 1e-1))
    torch.manual_seed(2)  # the seed does not matter: fixed starting point
    second = fit_probe(model_head, (feats, labels), (feats, labels),
                       weight_decays=(1e-3, 1e-1))
    for key, value in first.head_state.items():
        assert torch.equal(value, second.head_state[key]), key
        assert torch.equal(model_head.state_dict()[key], before[key])
    assert set(first.val_by_decay) == {1e-3, 1e-1}


def test_weight_decay_is_chosen_on_val():
    """Val labels that only a strongly regularised head gets right."""
    feats, labels = separable(n_per_class=10, seed=3)
    noisy = labels.clone()
    noisy[::7] = (noisy[::7] + 1) % 4  # training labels with 15 % noise
    result = fit_probe(head('LinearClsHead'), (feats, noisy),
                       (feats, labels), weight_decays=(1e-6, 1e-1))
    assert result.val_by_decay[1e-1] >= result.val_by_decay[1e-6]
    assert result.weight_decay == 1e-1
    assert result.val_top1 == result.val_by_decay[1e-1]


def test_class_balanced_loss_gets_counts_from_the_training_labels():
    feats, labels = separable()
    keep = torch.cat([torch.arange(20), torch.arange(20, 80, 3)])
    model_head = head('CosineClsHead', type='ClassBalancedLoss', beta=0.99,
                      loss=dict(type='LabelSmoothLoss',
                                label_smooth_val=0.1))
    result = fit_probe(model_head, (feats[keep], labels[keep]),
                       (feats, labels), weight_decays=(1e-3, ))
    assert result.val_top1 == 100.0
    assert model_head.loss_module.class_weight is None  # a copy was fitted


def test_linear_probe_tool_prints_val_top1(tmp_path):
    root = write_class_tree(tmp_path / 'data', ('a', 'b', 'c'),
                            {'train': 4, 'val': 2}, size=32)
    # the folder config: data_root alone finds the 3 classes and sizes the head
    command = [sys.executable,
               str(REPO / 'tools' / 'analysis' / 'linear_probe.py'),
               str(REPO / 'configs' / 'folder' / 'mobilenet-v2_folder_ft.py'),
               '--cache-dir', str(tmp_path / 'cache'), '--threads', '1',
               '--weight-decays', '0.01', '0.1',
               '--cfg-options', 'load_from=', f'data_root={root}']
    result = run(command)
    assert 'linear probe val top-1:' in result.stdout
    assert len(list((tmp_path / 'cache').glob('*.pt'))) == 2  # train, val
    again = run(command)  # from the feature cache: the same figure
    assert again.stdout.split('linear probe val top-1:')[1].split()[0] == \
        result.stdout.split('linear probe val top-1:')[1].split()[0]


def test_warm_started_decay_path_reaches_the_cold_start_optimum():
    """A fit started from a stronger decay's head ends where a cold one does.

    fit_probe walks the grid from the strongest decay this way.
    """
    feats, labels = separable(n_per_class=10, seed=4)
    strong = head('LinearClsHead')
    fit_head(strong, feats, labels, weight_decay=1.0)
    warm, cold = head('LinearClsHead'), head('LinearClsHead')
    warm_loss = fit_head(warm, feats, labels, weight_decay=0.01,
                         init_state=strong.state_dict())
    cold_loss = fit_head(cold, feats, labels, weight_decay=0.01)
    assert not torch.allclose(strong.fc.weight, cold.fc.weight, atol=1e-2)
    assert abs(warm_loss - cold_loss) < 1e-5
    # same optimum up to L-BFGS's tolerance (the unpenalised biases may
    # shift together without changing a probability)
    assert torch.allclose(warm.fc.weight, cold.fc.weight, atol=5e-3)
    assert torch.equal(warm((feats, )).argmax(1), cold((feats, )).argmax(1))
    path = fit_probe(head('LinearClsHead'), (feats, labels), (feats, labels),
                     weight_decays=(1.0, 0.01))
    fixed = fit_probe(head('LinearClsHead'), (feats, labels),
                      (feats, labels), weight_decays=(1.0, 0.01),
                      warm_start=False)
    assert path.val_by_decay == fixed.val_by_decay
