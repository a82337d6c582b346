"""Speed options (channels-last, CPU mixed precision, host-fitted loaders),
the plain-PyTorch reference loop and the benchmark tools."""
import json
import os
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper
from mmengine.runner import Runner
from torch.utils.data import TensorDataset

from conftest import REPO, run, tiny_config
from fruit_ext.compat import cpu_amp, dataloader
from fruit_ext.engine.hooks import ChannelsLastHook

pytestmark = pytest.mark.usefixtures('one_thread')

needs_cpu_only = pytest.mark.skipif(
    torch.accelerator.is_available(), reason='checks the CPU-only fixes')


@pytest.fixture(scope='module')
def runner(tmp_path_factory, fruit_tree):
    """A real Runner on the tiny config, and one fixed training batch."""
    root = tmp_path_factory.mktemp('speed')
    cfg = Config.fromfile(str(tiny_config(root / 'tiny.py', fruit_tree)))
    cfg.work_dir = str(root / 'work')
    runner = Runner.from_cfg(cfg)
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    return runner, batch


def _loss(runner, batch) -> torch.Tensor:
    model = runner.model
    data = model.data_preprocessor(batch, True)
    return model(**data, mode='loss')['loss'], data['inputs']


def test_channels_last_hook_same_loss(runner):
    runner, batch = runner
    torch.manual_seed(0)
    reference, inputs = _loss(runner, batch)
    assert not inputs.is_contiguous(memory_format=torch.channels_last)

    ChannelsLastHook(enable=True).before_train(runner)
    conv = runner.model.backbone.conv1.conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    loss, inputs = _loss(runner, batch)
    assert inputs.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(loss, reference, rtol=1e-4, atol=1e-5)


def test_channels_last_hook_default_leaves_cpu_runs_alone(runner):
    runner, _ = runner
    hook = ChannelsLastHook()
    assert hook.enable is None
    fresh = Runner.from_cfg(runner.cfg)  # a model not converted yet
    hook.before_train(fresh)
    weight = fresh.model.backbone.conv1.conv.weight
    assert not weight.is_contiguous(memory_format=torch.channels_last)


@needs_cpu_only
def test_amp_optim_wrapper_trains_bfloat16_on_cpu():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                                torch.nn.LazyLinear(2))
    model(torch.zeros(1, 3, 8, 8))
    before = model[0].weight.detach().clone()
    wrapper = AmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 3, 8, 8))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert not torch.equal(model[0].weight, before)
    assert wrapper.state_dict()['loss_scaler'] == {}

    with pytest.raises(ValueError, match='bfloat16'):
        AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=1),
                        dtype='float16')
    cpu_amp.revert()
    try:
        with pytest.raises(AssertionError, match='only available'):
            AmpOptimWrapper(
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    finally:
        cpu_amp.apply()


@needs_cpu_only
def test_dataloader_options_fit_the_host():
    cfg = dict(dataset=TensorDataset(torch.zeros(4, 1)), batch_size=2,
               num_workers=0, persistent_workers=True, pin_memory=True,
               sampler=dict(type='DefaultSampler', shuffle=False))
    loader = Runner.build_dataloader(cfg)
    assert not loader.persistent_workers and not loader.pin_memory
    assert len(list(loader)) == 2
    dataloader.revert()
    try:
        with pytest.raises(ValueError, match='persistent_workers'):
            Runner.build_dataloader(cfg)
    finally:
        dataloader.apply()


def test_plain_pytorch_loop_trains_saves_reloads_predicts(
        tmp_path, fruit_tree):
    config = tiny_config(tmp_path / 'tiny.py', fruit_tree)
    image = next((fruit_tree / 'val' / '香蕉').glob('*.jpg'))
    out = tmp_path / 'plain'
    result = run([sys.executable,
                  str(REPO / 'tools' / 'benchmark' / 'plain_pytorch.py'),
                  str(fruit_tree), '--config', str(config), '--epochs', '2',
                  '--workers', '0', '--out-dir', str(out), '--predict',
                  str(image)])
    summary = json.loads((out / 'summary.json').read_text())
    assert [entry['epoch'] for entry in summary['log']] == [1, 2]
    # the reloaded state_dict gives the trained model's accuracy back
    assert summary['reloaded_accuracy'] == summary['log'][-1]['accuracy']
    state = torch.load(out / 'plain_pytorch.pth', weights_only=True)
    assert state['head.fc.weight'].shape == (30, 1280)
    top = summary['prediction']
    assert len(top) == 3 and top[0][0] in summary['classes']
    assert top[0][1] >= top[1][1] >= top[2][1]
    assert f'prediction: {top[0][0]}' in result.stdout


def test_throughput_benchmark_runs_on_cpu(tmp_path):
    """Tiny run of the benchmark: both loops alternating in one process, and
    the data pipeline alone (as tools/benchmark/gpu_suite.sh runs it)."""
    run(['bash', '-n', str(REPO / 'tools' / 'benchmark' / 'gpu_suite.sh')])
    out = tmp_path / 'result.json'
    result = run([
        sys.executable,
        str(REPO / 'tools' / 'benchmark' / 'train_throughput.py'),
        '--img-size', '32', '--batch-size', '4', '--iters', '2', '--warmup',
        '1', '--repeats', '1', '--workers', '1', '--threads', '1', '--cases',
        'alternating/memory', 'runner/files-data-only', '--json', str(out)
    ])
    summary = json.loads(out.read_text())['summary']
    assert set(summary) == {'alternating/memory (plain)',
                            'alternating/memory (runner)',
                            'runner/files-data-only'}
    assert all(entry['median'] > 0 for entry in summary.values())
    assert summary['runner/files-data-only']['peak_mib'] > 0
    assert 0.2 < summary['alternating/memory (runner)']['vs_plain'] < 5
    assert '| alternating/memory (runner) |' in result.stdout


def test_throughput_case_timeout_stops_the_measurement(tmp_path):
    """A measurement past --case-timeout stops the run with a message, and
    its process group (loader workers included) is gone: what gpu_suite.sh
    relies on to stay inside a time limit."""
    import subprocess
    result = subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'benchmark' / 'train_throughput.py'),
        '--img-size', '32', '--batch-size', '4', '--iters', '2', '--warmup',
        '1', '--repeats', '1', '--workers', '2', '--threads', '1',
        '--cases', 'runner/files-data-only', '--case-timeout', '2'],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert result.returncode != 0
    assert 'runner/files-data-only ran past --case-timeout 2.0 s' in \
        result.stderr
    leftover = subprocess.run(['pgrep', '-f', str(tmp_path)],
                              capture_output=True, text=True)
    assert leftover.stdout == ''


def test_throughput_compile_needs_two_warmup_iterations():
    """torch.compile recompiles train_step at the 2nd iteration: a compile
    case with one warm-up would time that compilation as training."""
    import subprocess
    result = subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'benchmark' / 'train_throughput.py'),
        '--warmup', '1', '--cases', 'runner/memory+amp+channels_last+compile'],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert 'the compile cases need --warmup 2 or more' in result.stderr


def test_throughput_op_profile_shows_the_same_convolutions():
    """--op-profile: both loops' timed iterations, operator by operator,
    and what the first convolution received."""
    result = run([
        sys.executable,
        str(REPO / 'tools' / 'benchmark' / 'train_throughput.py'),
        '--img-size', '32', '--batch-size', '4', '--iters', '2', '--warmup',
        '1', '--threads', '1', '--op-profile'])
    lines = result.stdout.splitlines()
    for loop in ('plain', 'runner'):
        line = next(x for x in lines if x.startswith(f'- {loop}: '))
        assert '(4, 3, 32, 32) torch.float32 NCHW, autocast False' in line
    conv = next(x for x in lines if x.startswith('| `aten::convolution'))
    plain, runner = (cell.split(', ')[1] for cell in conv.split('|')[2:4])
    assert int(plain) == int(runner) > 0  # calls per iteration
