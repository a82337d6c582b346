"""Crash safety: training processes killed with SIGKILL while writing
checkpoints, then resumed (real processes, real files)."""
import os
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO, run, tiny_config

# Imported by the training process (custom_imports). SIGKILLs the process
# half-way through writing the checkpoint whose name starts with
# KILL_IN_CHECKPOINT (whatever writes it: torch.save into a file, or
# mmengine's LocalBackend.put), or, with KILL_IN_LAST_CHECKPOINT=N, when the
# N-th update of `last_checkpoint` starts writing.
CRASH_PLUGIN = '''
import io
import os
import signal

import mmengine.hooks.checkpoint_hook as checkpoint_hook
import torch
from mmengine.fileio import LocalBackend

TARGET = os.environ.get('KILL_IN_CHECKPOINT')
LAST_N = int(os.environ.get('KILL_IN_LAST_CHECKPOINT', 0))


def die_half_written(data, file):
    file.write(data[:len(data) // 2])
    file.flush()
    os.fsync(file.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


def targeted(path):
    return TARGET and os.path.basename(str(path)).startswith(TARGET)


_save = torch.save


def save(obj, f, *args, **kwargs):
    if targeted(getattr(f, 'name', '')):
        buffer = io.BytesIO()
        _save(obj, buffer, *args, **kwargs)
        die_half_written(buffer.getvalue(), f)
    return _save(obj, f, *args, **kwargs)


_put = LocalBackend.put


def put(self, obj, filepath):
    if targeted(filepath):
        with open(filepath, 'wb') as file:
            die_half_written(obj, file)
    return _put(self, obj, filepath)


class KillOnWrite:
    def __init__(self, file):
        self.file = file

    def __enter__(self):
        self.file.__enter__()
        return self

    def __exit__(self, *exc):
        return self.file.__exit__(*exc)

    def write(self, text):
        os.kill(os.getpid(), signal.SIGKILL)


_open = getattr(checkpoint_hook, 'open', open)
_writes = [0]


def hook_open(file, mode='r', *args, **kwargs):
    opened = _open(file, mode, *args, **kwargs)
    if 'w' in mode and os.path.basename(str(file)) == 'last_checkpoint':
        _writes[0] += 1
        if _writes[0] == LAST_N:
            return KillOnWrite(opened)
    return opened


torch.save = save
LocalBackend.put = put
checkpoint_hook.open = hook_open
'''


@pytest.fixture(scope='module')
def crash_setup(tmp_path_factory, fruit_tree):
    """(root, config): a 2-epoch tiny config that imports the plugin."""
    root = tmp_path_factory.mktemp('crash')
    (root / 'crash_plugin.py').write_text(CRASH_PLUGIN)
    config = tiny_config(root / 'crash.py', fruit_tree, work_extra=(
        "custom_imports = dict(imports=['fruit_ext', 'crash_plugin'], "
        'allow_failed_imports=False)\n'
        'train_cfg = dict(max_epochs=2)\n'))
    return root, config


def train(root: Path, config: Path, work_dir: Path, *extra: str,
          check: bool = True, **env: str):
    return run([sys.executable, str(REPO / 'tools' / 'train.py'),
                str(config), '--work-dir', str(work_dir), *extra], cwd=root,
               env=dict(PYTHONPATH=f'{root}{os.pathsep}{REPO}', **env),
               check=check)


def train_killed(root, config, work_dir, **kill_at):
    """Train until the planted SIGKILL fires; the finished process."""
    killed = train(root, config, work_dir, check=False, **kill_at)
    assert killed.returncode == -9, killed.stdout[-3000:]
    return killed


@pytest.fixture(scope='module')
def killed_mid_checkpoint(crash_setup):
    """Killed while epoch_2.pth was half written: (work_dir, files, log)."""
    root, config = crash_setup
    work_dir = root / 'mid_write'
    killed = train_killed(root, config, work_dir,
                          KILL_IN_CHECKPOINT='epoch_2.pth')
    files = {path.name: path.stat().st_size for path in work_dir.iterdir()
             if path.is_file()}
    return work_dir, files, killed.stdout


def test_sigkill_mid_checkpoint_keeps_previous_one(killed_mid_checkpoint):
    work_dir, files, log = killed_mid_checkpoint
    assert 'Saving checkpoint at 2 epochs' in log
    # the half-written file never took the checkpoint's name
    assert 'epoch_2.pth' not in files
    assert files['epoch_2.pth.tmp'] > 0
    assert (work_dir / 'last_checkpoint').read_text().endswith('epoch_1.pth')


@pytest.fixture(scope='module')
def resumed_after_kill(killed_mid_checkpoint, crash_setup):
    """The killed run resumed with --resume: its log."""
    root, config = crash_setup
    work_dir, _, _ = killed_mid_checkpoint
    return train(root, config, work_dir, '--resume').stdout


def test_resume_after_sigkill_mid_checkpoint(killed_mid_checkpoint,
                                             resumed_after_kill):
    work_dir, _, _ = killed_mid_checkpoint
    assert 'resumed epoch: 1' in resumed_after_kill
    assert 'Epoch(train) [2]' in resumed_after_kill
    assert 'Cannot resume' not in resumed_after_kill
    final = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert final['meta']['epoch'] == 2
    assert not (work_dir / 'epoch_2.pth.tmp').exists()
    assert (work_dir / 'last_checkpoint').read_text().endswith('epoch_2.pth')


def test_truncated_checkpoint_on_resume_falls_back_to_previous(
        killed_mid_checkpoint, resumed_after_kill, crash_setup):
    """A truncated file named in last_checkpoint (as a crash under an older,
    non-atomic writer or a full disk leaves) is reported by name and the
    previous good checkpoint is used."""
    root, config = crash_setup
    work_dir, _, _ = killed_mid_checkpoint
    broken = work_dir / 'epoch_2.pth'
    broken.write_bytes(broken.read_bytes()[:4096])
    resumed = train(root, config, work_dir, '--resume').stdout
    assert f'Cannot resume from {broken}' in resumed
    assert 'truncated or corrupt' in resumed
    assert (f'Resuming from the previous checkpoint {work_dir / "epoch_1.pth"}'
            in resumed)
    assert 'resumed epoch: 1' in resumed
    assert torch.load(broken, weights_only=True)['meta']['epoch'] == 2


def test_sigkill_while_updating_last_checkpoint(crash_setup):
    root, config = crash_setup
    work_dir = root / 'last_checkpoint'
    train_killed(root, config, work_dir, KILL_IN_LAST_CHECKPOINT='2')
    # still names the previous, complete checkpoint
    last = (work_dir / 'last_checkpoint').read_text()
    assert last == str(work_dir / 'epoch_1.pth')
    assert torch.load(last, weights_only=True)['meta']['epoch'] == 1
