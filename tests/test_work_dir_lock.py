"""Two training runs cannot share a work dir; a dead run's lock is taken."""
import json
import os
import signal
import subprocess
import time

import pytest

from fruit_ext.engine.work_dir_lock import (LOCK_NAME, WorkDirBusyError,
                                            WorkDirLock)

from conftest import BIN, REPO
from test_folder_e2e import FOLDER_CONFIG, TINY, flat_folder, train


def test_second_holder_is_refused_with_the_first_named(tmp_path):
    first = WorkDirLock(str(tmp_path))
    assert first.acquire() == (False, {})
    with pytest.raises(WorkDirBusyError, match=f'PID {os.getpid()} on host'):
        WorkDirLock(str(tmp_path)).acquire()
    first.release()
    assert WorkDirLock(str(tmp_path)).acquire()[0] is False  # clean finish


def test_lock_left_by_a_dead_run_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        dict(pid=999999, host='elsewhere', started='yesterday')))
    took_over, previous = WorkDirLock(str(tmp_path)).acquire()
    assert took_over and previous['pid'] == 999999


def _wait_for_lock(path, process, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return json.loads(path.read_text())
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.5)
    raise AssertionError('the first run never took the lock')


def test_concurrent_mim_train_into_one_work_dir(tmp_path):
    photos = flat_folder(tmp_path / 'photos')
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PATH=f'{BIN}{os.pathsep}{os.environ["PATH"]}')
    first = subprocess.Popen(
        [str(BIN / 'mim'), 'train', 'mmpretrain', FOLDER_CONFIG,
         '--work-dir', str(work), '--cfg-options', *TINY,
         f'data_root={photos}', 'train_cfg.max_epochs=1000'],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        holder = _wait_for_lock(work / LOCK_NAME, first)
        second = train(FOLDER_CONFIG, work, f'data_root={photos}',
                       check=False)
        assert second.returncode != 0
        assert f'is in use by another training run (PID {holder["pid"]}' \
            in second.stdout
        assert first.poll() is None  # the first run goes on
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # killed without releasing: the next run takes over and trains
    third = train(FOLDER_CONFIG, work, f'data_root={photos}').stdout
    assert 'took over the lock of a run that ended without releasing it' \
        in third
    assert (work / 'epoch_1.pth').exists()
