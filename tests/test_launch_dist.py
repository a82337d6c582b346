"""2-process CPU training through real launchers, killed and resumed."""
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import BIN, REPO, run, tiny_config

# Imported by the training processes (custom_imports): SIGKILL the whole
# process group (launcher and every worker, like a lost node) when epoch
# KILL_AT_EPOCH + 1 is about to start, i.e. after epoch KILL_AT_EPOCH was
# trained, validated and checkpointed.
KILL_PLUGIN = '''
import os
import signal

from mmengine.runner import EpochBasedTrainLoop

_run_epoch = EpochBasedTrainLoop.run_epoch


def run_epoch(self):
    if (self.epoch == int(os.environ.get('KILL_AT_EPOCH', -1))
            and self.runner.rank == 0):
        os.killpg(0, signal.SIGKILL)
    _run_epoch(self)


EpochBasedTrainLoop.run_epoch = run_epoch
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def launch(cmd, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """Run a launcher in its own process group (so the kill stays in it)."""
    full_env = dict(os.environ, PATH=f'{BIN}{os.pathsep}{os.environ["PATH"]}',
                    OMP_NUM_THREADS='1', **env)
    return subprocess.run(cmd, cwd=cwd, env=full_env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True, timeout=600)


def launcher_cmd(launcher: str, config: Path, work_dir: Path) -> list:
    if launcher == 'dist_train.sh':
        return ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config),
                '2', '--work-dir', str(work_dir)]
    return ['mim', 'train', 'mmpretrain', str(config), '--work-dir',
            str(work_dir), '--launcher', 'pytorch', '--gpus', '2']


@pytest.fixture(scope='module')
def killed_and_resumed(tmp_path_factory, fruit_tree):
    """Per launcher: (work_dir, killed run, resumed run)."""
    results = {}
    for launcher in ('dist_train.sh', 'mim'):
        root = tmp_path_factory.mktemp(launcher.replace('.', '_'))
        (root / 'kill_plugin.py').write_text(KILL_PLUGIN)
        # the mim run also trains channels-last (forced on CPU)
        channels_last = launcher == 'mim'
        config = tiny_config(root / 'dist.py', fruit_tree, work_extra=(
            "custom_imports = dict(imports=['fruit_ext', 'kill_plugin'], "
            'allow_failed_imports=False)\n'
            'train_cfg = dict(max_epochs=2)\n'
            "custom_hooks = [dict(type='LRScalingLogHook'), dict(type="
            f"'ChannelsLastHook', enable={channels_last})]\n"))
        work_dir = root / 'work'
        env = dict(PYTHONPATH=f'{root}{os.pathsep}{REPO}',
                   PORT=str(free_port()))
        cmd = launcher_cmd(launcher, config, work_dir)
        killed = launch(cmd, root, dict(env, KILL_AT_EPOCH='1'))
        killed.files = sorted(path.name for path in work_dir.glob('*.pth'))
        resumed = launch(cmd + ['--resume'], root, env)
        results[launcher] = (work_dir, killed, resumed)
    return results


@pytest.mark.parametrize('launcher', ['dist_train.sh', 'mim'])
def test_killed_after_epoch_1_resumes_to_epoch_2(killed_and_resumed,
                                                 launcher):
    work_dir, killed, resumed = killed_and_resumed[launcher]
    assert killed.returncode != 0, killed.stdout[-3000:]
    assert 'Distributed training: True' in killed.stdout
    assert 'Epoch(train) [2]' not in killed.stdout
    assert 'epoch_1.pth' in killed.files
    assert 'epoch_2.pth' not in killed.files

    assert resumed.returncode == 0, resumed.stdout[-6000:]
    log = resumed.stdout
    if not torch.cuda.is_available():
        assert "uses the 'gloo' backend" in log
    assert 'resumed epoch: 1' in log
    assert 'Epoch(train) [1]' not in log and 'Epoch(train) [2]' in log
    # 2 processes x 16 images: 0.045 x 32 / 256, unchanged by the resume
    assert 'Learning rate in use: 0.005625' in log
    assert 'rescaled' not in log
    final = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert final['meta']['epoch'] == 2 and final['meta']['world_size'] == 2
    assert not (work_dir / 'epoch_3.pth').exists()


def first_loss(log: str) -> float:
    line = next(line for line in log.splitlines()
                if 'Epoch(train) [1][1/' in line)
    return float(line.rsplit('loss: ', 1)[1].split()[0])


def test_channels_last_ddp_same_loss(killed_and_resumed):
    """Same seed, data and 2 processes: NHWC (mim run) gives the NCHW loss,
    and DDP is re-wrapped for the new strides (no gradient-layout copies)."""
    _, nchw, _ = killed_and_resumed['dist_train.sh']
    _, nhwc, _ = killed_and_resumed['mim']
    assert 'channels_last memory format' in nhwc.stdout
    assert 'channels_last memory format' not in nchw.stdout
    assert 'Grad strides do not match' not in nhwc.stdout
    assert abs(first_loss(nhwc.stdout) - first_loss(nchw.stdout)) < 2e-4


def test_resume_on_one_process_follows_world_size(killed_and_resumed,
                                                  fruit_tree, tmp_path):
    work_dir, _, _ = killed_and_resumed['dist_train.sh']
    checkpoint = tmp_path / 'epoch_1.pth'
    shutil.copy(work_dir / 'epoch_1.pth', checkpoint)
    config = tiny_config(tmp_path / 'one.py', fruit_tree,
                         work_extra='train_cfg = dict(max_epochs=2)\n')
    result = run([sys.executable, str(REPO / 'tools' / 'train.py'),
                  str(config), '--work-dir', str(tmp_path / 'work'),
                  '--resume', str(checkpoint)], cwd=tmp_path)
    log = result.stdout
    assert 'resumed epoch: 1' in log
    assert ('the checkpoint was trained with 2 process(es), this run has 1;'
            ' its learning rate 0.005625 is rescaled by 0.5 to 0.0028125'
            in log)
    assert 'Learning rate in use: 0.0028125' in log
    assert 'lr: 2.8125e-03' in log


def test_dist_test_sh_evaluates_the_resumed_checkpoint(killed_and_resumed,
                                                       fruit_tree, tmp_path):
    work_dir, _, _ = killed_and_resumed['dist_train.sh']
    config = tiny_config(tmp_path / 'test.py', fruit_tree)
    result = launch(['bash', str(REPO / 'tools' / 'dist_test.sh'),
                     str(config), str(work_dir / 'epoch_2.pth'), '2',
                     '--work-dir', str(tmp_path / 'test')], tmp_path,
                    dict(PORT=str(free_port())))
    assert result.returncode == 0, result.stdout[-4000:]
    assert 'Distributed training: True' in result.stdout
    assert 'Epoch(test) [1/1]' in result.stdout
    assert 'accuracy/top1' in result.stdout

