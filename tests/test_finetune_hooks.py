"""Freeze and class-count hooks in a real mmengine Runner (in process)."""
import re
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from conftest import (runner_from, three_class_config, tiny_config,
                      write_class_tree)
from fruit_ext.models import effective_number_weights

pytestmark = pytest.mark.usefixtures('one_thread')

CLASSES = ('a', 'b', 'c')
TRAIN_COUNTS = (6, 3, 2)
#: SGD lr 0.045 x batch 4 / 256 (auto_scale_lr), backbone lr_mult 0.1
BACKBONE_LR = 0.045 * 4 / 256 * 0.1


@pytest.fixture(scope='module')
def small_tree(tmp_path_factory) -> Path:
    """Three classes, 6/3/2 training images, 1 val image each."""
    root = write_class_tree(tmp_path_factory.mktemp('imb') / 'data',
                            CLASSES, {'train': 6, 'val': 1}, size=32)
    for name, count in zip(CLASSES, TRAIN_COUNTS):
        for image in sorted((root / 'train' / name).glob('*.jpg'))[count:]:
            image.unlink()
    return root


def make_runner(tmp_path: Path, data_root: Path, work_dir: Path,
                extra: str = '', **updates) -> Runner:
    """A Runner of a tiny 3-class MobileNetV2 config, built in process."""
    config = three_class_config(
        tmp_path / f'{uuid.uuid4().hex}.py', data_root, f'''
model = dict(backbone=dict(widen_factor=0.35),
             head=dict(in_channels=1280, num_classes=3, topk=(1, )))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={{'backbone': dict(lr_mult=0.1)}}))
{extra}''')
    return runner_from(config, work_dir, **updates)


def initial_weights(tmp_path: Path, data_root: Path) -> Path:
    """Save a freshly initialised model as the ``load_from`` checkpoint."""
    cfg = Config.fromfile(str(tiny_config(tmp_path / 'init.py', data_root, '''
model = dict(backbone=dict(widen_factor=0.35),
             head=dict(in_channels=1280, num_classes=3))''')))
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = tmp_path / 'init.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def state(path: Path) -> dict:
    return torch.load(path, weights_only=True)['state_dict']


def same(a: dict, b: dict, prefix: str) -> bool:
    """Whether every tensor under ``prefix`` (parameters and BN buffers)
    is equal in both state dicts."""
    keys = [k for k in a if k.startswith(prefix)]
    assert keys, prefix
    return all(torch.equal(a[k], b[k]) for k in keys)


def log_text(work_dir: Path) -> str:
    return '\n'.join(p.read_text() for p in sorted(work_dir.glob('*/*.log')))


def test_freeze_then_release_on_time_and_after_resume(tmp_path, small_tree):
    init_path = initial_weights(tmp_path, small_tree)
    init = state(init_path)
    work_dir = tmp_path / 'work'
    hooks = [dict(type='BackboneFreezeHook', freeze=2)]
    runner = make_runner(tmp_path, small_tree, work_dir, custom_hooks=hooks,
                         load_from=str(init_path))
    runner.train()
    backbone = runner.model.backbone
    assert not any(p.requires_grad for p in backbone.parameters())
    epoch1 = state(work_dir / 'epoch_1.pth')
    # weights and BatchNorm running statistics untouched, the head trained
    assert same(epoch1, init, 'backbone.')
    assert not same(epoch1, init, 'head.')

    # resume the interrupted run for two more epochs
    runner = make_runner(tmp_path, small_tree, work_dir, custom_hooks=hooks,
                         resume=True, train_cfg=dict(max_epochs=3))
    runner.train()
    log = log_text(work_dir)
    assert 'resumed epoch: 1' in log
    assert 'BackboneFreezeHook: epoch 1: backbone frozen' in log
    unfrozen = re.search(
        r'BackboneFreezeHook: epoch 2: backbone unfrozen, \d+ parameter '
        r'tensors train at lr ([\d.e-]+)\.', log)
    assert unfrozen and float(unfrozen.group(1)) == pytest.approx(
        BACKBONE_LR)
    assert same(state(work_dir / 'epoch_2.pth'), init, 'backbone.')
    epoch3 = state(work_dir / 'epoch_3.pth')
    assert not same(epoch3, init, 'backbone.layer1.')
    bn_mean = 'backbone.conv1.bn.running_mean'
    assert not torch.equal(epoch3[bn_mean], init[bn_mean])
    # every backbone parameter trains with the backbone's lr multiplier
    lr_of = {id(p): group['lr'] for group in runner.optim_wrapper.param_groups
             for p in group['params']}
    for param in runner.model.backbone.parameters():
        assert param.requires_grad
        assert lr_of[id(param)] == pytest.approx(BACKBONE_LR)


def test_gradual_unfreezing_by_iteration(tmp_path, small_tree):
    init_path = initial_weights(tmp_path, small_tree)
    init = state(init_path)
    work_dir = tmp_path / 'work'
    # 11 images / batch 4 = 3 iterations: iters 0-1 frozen, then conv2
    # (iter 1 is the second, so conv2 trains at iter 1 and 2), layer7 at 2
    runner = make_runner(
        tmp_path, small_tree, work_dir, load_from=str(init_path),
        custom_hooks=[dict(type='BackboneFreezeHook', freeze=1,
                           by_epoch=False, stages=['layer6', 'layer7',
                                                   'conv2'])])
    runner.train()
    log = log_text(work_dir)
    assert 'iter 1: backbone.conv2 unfrozen' in log
    assert 'iter 2: backbone.layer7 unfrozen' in log
    assert 'backbone.layer6 unfrozen' not in log
    final = state(work_dir / 'epoch_1.pth')
    assert not same(final, init, 'backbone.conv2.')
    assert not same(final, init, 'backbone.layer7.')
    assert same(final, init, 'backbone.layer6.')
    assert same(final, init, 'backbone.conv1.')


def test_bad_stage_name_is_a_clear_error(tmp_path, small_tree):
    runner = make_runner(
        tmp_path, small_tree, tmp_path / 'work',
        custom_hooks=[dict(type='BackboneFreezeHook', stages=['layer99'])])
    with pytest.raises(ValueError, match="backbone has no stage 'layer99'"):
        runner.train()


def test_class_counts_reach_the_loss(tmp_path, small_tree):
    runner = make_runner(
        tmp_path, small_tree, tmp_path / 'work',
        model=dict(head=dict(loss=dict(
            _delete_=True, type='ClassBalancedLoss', beta=0.9))),
        custom_hooks=[dict(type='ClassCountsHook')])
    runner.train()
    expected = effective_number_weights(TRAIN_COUNTS, 0.9)
    assert torch.allclose(runner.model.head.loss_module.class_weight,
                          expected)
    assert 'got class counts [6, 3, 2]' in log_text(tmp_path / 'work')


def test_class_counts_hook_needs_a_balanced_loss(tmp_path, small_tree):
    runner = make_runner(tmp_path, small_tree, tmp_path / 'work',
                         custom_hooks=[dict(type='ClassCountsHook')])
    with pytest.raises(RuntimeError, match='ClassBalancedLoss'):
        runner.train()
