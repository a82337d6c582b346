"""LP-FT in a real mmengine Runner: stage 1, resume, keeping the better."""
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from conftest import runner_from, three_class_config, write_class_tree
from fruit_ext.engine import probe_config
from fruit_ext.engine.hooks.linear_probe_hook import LinearProbeHook, \
    mix_states

CLASSES = ('a', 'b', 'c')
GRID = (1e-3, 1e-1)
pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def tree(tmp_path_factory) -> Path:
    """Three classes, 6/4/2 training images (imbalanced), 2 val each."""
    root = write_class_tree(tmp_path_factory.mktemp('lp') / 'data', CLASSES,
                            {'train': 6, 'val': 2}, size=32)
    for name, count in zip(CLASSES, (6, 4, 2)):
        for image in sorted((root / 'train' / name).glob('*.jpg'))[count:]:
            image.unlink()
    return root


def write_config(tmp_path: Path, data_root: Path, head: str,
                 extra: str = '') -> Path:
    """A tiny 3-class MobileNetV2 LP-FT config (class-balanced loss)."""
    return three_class_config(
        tmp_path / f'{uuid.uuid4().hex}.py', data_root, f'''
model = dict(backbone=dict(widen_factor=0.35),
             head=dict(_delete_=True, type={head!r}, in_channels=1280,
                       num_classes=3, topk=(1, ),
                       loss=dict(type='ClassBalancedLoss', beta=0.9,
                                 loss=dict(type='LabelSmoothLoss',
                                           label_smooth_val=0.1))))
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='LinearProbeHook', weight_decays={GRID!r}, cache_dir=None),
]
{extra}''')


make_runner = runner_from


def initial_weights(tmp_path: Path, config: Path) -> Path:
    """A random model saved as the ``load_from`` checkpoint.

    Its BatchNorm statistics are those of random images (train-mode
    forwards), so eval-mode features are not vanishingly small, as they are
    with the initial statistics (mean 0, variance 1).
    """
    cfg = Config.fromfile(str(config))
    torch.manual_seed(0)  # the same random model in every process
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for momentum in (1.0, 0.5, 0.5):
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.momentum = momentum
            model.extract_feat(torch.rand(8, 3, 32, 32, generator=generator))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 0.1
    path = tmp_path / 'init.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def head_state(path: Path) -> dict:
    state = torch.load(path, weights_only=True)['state_dict']
    return {k[len('head.'):]: v for k, v in state.items()
            if k.startswith('head.')}


def log_text(work_dir: Path) -> str:
    return '\n'.join(p.read_text() for p in sorted(work_dir.glob('*/*.log')))


@pytest.mark.parametrize('head', ['LinearClsHead', 'CosineClsHead'])
def test_stage1_head_equals_a_separately_fitted_probe(tmp_path, tree, head):
    config = write_config(tmp_path, tree, head)
    load_from = initial_weights(tmp_path, config)
    work_dir = tmp_path / 'work'
    make_runner(config, work_dir, load_from=str(load_from)).train()
    stage1 = work_dir / 'linear_probe.pth'
    assert stage1.is_file()
    # the same probe, fitted outside training on the same starting weights
    report = probe_config(str(config), checkpoint=str(load_from),
                          weight_decays=GRID)
    separate = report['model'].head.state_dict()
    fitted = head_state(stage1)
    assert set(fitted) == set(separate)
    assert fitted['fc.weight'].abs().max() > 1e-3  # a real fit
    for key, value in separate.items():
        assert torch.allclose(fitted[key], value, atol=1e-6), key
    log = log_text(work_dir)
    assert 'LinearProbeHook: head fitted as a linear probe' in log
    assert f"probe val top-1 {report['val_top1']:.2f}" in log
    assert 'probe_top1:' in log  # next to the epoch's val top-1
    assert 'vs linear probe' in log
    meta = torch.load(work_dir / 'epoch_1.pth', weights_only=True)['meta']
    assert meta['linear_probe']['val_top1'] == pytest.approx(
        report['val_top1'])


def test_resume_after_stage1_does_not_refit(tmp_path, tree):
    config = write_config(tmp_path, tree, 'LinearClsHead')
    init = initial_weights(tmp_path, config)
    config = write_config(tmp_path, tree, 'LinearClsHead',
                          f'load_from = {str(init)!r}')
    work_dir = tmp_path / 'work'
    make_runner(config, work_dir).train()
    first = log_text(work_dir)
    assert first.count('head fitted as a linear probe') == 1
    stage1_mtime = (work_dir / 'linear_probe.pth').stat().st_mtime_ns
    # resume=True with load_from would resume from load_from
    runner = make_runner(config, work_dir, resume=True, load_from=None,
                         train_cfg=dict(max_epochs=2))
    runner.train()
    hook = next(h for h in runner.hooks
                if type(h).__name__ == 'LinearProbeHook')
    assert not hook.fitted
    assert hook.summary['val_top1'] is not None  # from the checkpoint meta
    log = log_text(work_dir)
    assert log.count('head fitted as a linear probe') == 1
    assert 'resumed at iteration' in log and 'no refit' in log
    assert 'Epoch(train) [2]' in log
    assert (work_dir / 'linear_probe.pth').stat().st_mtime_ns == stage1_mtime


def train_from_random_weights(tmp_path: Path, config: Path):
    """Train ``config`` from random weights: (runner, its probe hook, dir)."""
    work_dir = tmp_path / 'work'
    runner = make_runner(config, work_dir,
                         load_from=str(initial_weights(tmp_path, config)))
    runner.train()
    hook = next(h for h in runner.hooks
                if type(h).__name__ == 'LinearProbeHook')
    return runner, hook, work_dir


def test_fine_tuning_below_the_probe_keeps_the_probe(tmp_path, tree):
    """An absurd LR wrecks fine-tuning: the model gets stage 1 back."""
    config = write_config(tmp_path, tree, 'LinearClsHead', '''
optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e4, momentum=0.9))
auto_scale_lr = dict(enable=False)
default_hooks = dict(checkpoint=dict(save_best='auto'))
''')
    runner, hook, work_dir = train_from_random_weights(tmp_path, config)
    assert hook.summary['val_top1'] > 50  # the probe learnt something
    assert hook.finetuned_val < hook.summary['val_top1']
    assert hook.kept == 'probe'
    stage1 = torch.load(work_dir / 'linear_probe.pth',
                        weights_only=True)['state_dict']
    model = runner.model.state_dict()
    assert all(torch.equal(model[k], v) for k, v in stage1.items())
    log = log_text(work_dir)
    assert 'the model now holds the stage-1 (probe) weights' in log
    assert 'kept 0.' in log
    # validated once more: the best checkpoint now holds the probe
    best = next(work_dir.glob('best_accuracy_top1_epoch_*.pth'))
    for name in (best.name, 'lpft_selected.pth'):
        saved = torch.load(work_dir / name, weights_only=True)['state_dict']
        assert all(torch.equal(saved[k], v) for k, v in stage1.items()), name


def test_kept_weights_are_the_logged_mix_of_probe_and_fine_tuned(
        tmp_path, tree):
    """Whatever alpha wins on val, the model holds exactly that mix."""
    config = write_config(tmp_path, tree, 'LinearClsHead')
    runner, hook, work_dir = train_from_random_weights(tmp_path, config)
    assert hook.alpha in (0.0, 0.25, 0.5, 0.75, 1.0)
    log = log_text(work_dir)
    assert 'val top-1 of the weight-space mixes' in log
    assert f'kept {hook.alpha:g}.' in log

    def weights(name):
        return torch.load(work_dir / name, weights_only=True)['state_dict']

    expected = mix_states(weights('linear_probe.pth'),
                          weights('epoch_1.pth'), hook.alpha)
    model = runner.model.state_dict()
    for key, value in expected.items():
        assert torch.allclose(model[key], value, atol=1e-6), key
    if hook.kept == 'interpolated':
        saved = weights('lpft_selected.pth')
        assert all(torch.equal(saved[k], v) for k, v in model.items())


def test_mix_states_interpolates_floats_and_keeps_counters():
    stage1 = dict(w=torch.zeros(2), n=torch.tensor(3))
    tuned = dict(w=torch.tensor([4.0, 8.0]), n=torch.tensor(7))
    mixed = mix_states(stage1, tuned, 0.25)
    assert torch.equal(mixed['w'], torch.tensor([1.0, 2.0]))
    assert int(mixed['n']) == 7
    with pytest.raises(ValueError, match='strictly between 0 and 1'):
        LinearProbeHook(interpolations=(0.5, 1.0))
