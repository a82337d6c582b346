"""A real `mim train` over a dataset with broken files: stop or skip."""
import shutil
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from conftest import REPO, run, tiny_config

sys.path.insert(0, str(REPO / 'tools' / 'benchmark'))
from common import resize_pipeline  # noqa: E402


def robust_lines(size: int = 32) -> str:
    """Config lines: the fruit30 dataset base's pipelines (robust loading),
    at ``size`` px."""
    base = Config.fromfile(
        str(REPO / 'configs' / '_base_' / 'datasets' / 'fruit30.py'))
    train, test = (resize_pipeline(base[key], size)
                   for key in ('train_pipeline', 'test_pipeline'))
    return (f'train_dataloader = dict(num_workers=1, dataset=dict('
            f'pipeline={train!r}))\n'
            f'val_dataloader = dict(dataset=dict(pipeline={test!r}))\n'
            'test_dataloader = val_dataloader\n')


@pytest.fixture(scope='module')
def broken_setup(tmp_path_factory, fruit_tree):
    """fruit30 with 2 broken train files and 1 broken val file; a config."""
    root = tmp_path_factory.mktemp('broken')
    data = root / 'fruit30'
    shutil.copytree(fruit_tree, data)
    broken = [data / 'train' / '香蕉' / '0.jpg', data / 'train' / '梨' / '1.jpg',
              data / 'val' / '西瓜' / '0.jpg']
    broken[0].write_bytes(b'')
    whole = broken[1].read_bytes()
    broken[1].write_bytes(whole[:len(whole) * 2 // 3])
    broken[2].write_text('not an image')
    tiny = tiny_config(root / 'tiny.py', data)
    config = root / 'robust.py'
    config.write_text(f'_base_ = {str(tiny)!r}\n{robust_lines()}')
    return config, broken


def test_broken_file_stops_the_run_naming_it(broken_setup, tmp_path):
    config, broken = broken_setup
    result = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                  str(tmp_path / 'work')], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert 'BrokenImageError' in result.stdout
    assert any(f'{path}: ' in result.stdout for path in broken[:2])
    assert not (tmp_path / 'work' / 'epoch_1.pth').exists()


def test_skip_option_completes_and_logs_each_skip(broken_setup, tmp_path):
    config, broken = broken_setup
    result = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                  str(tmp_path / 'work'), '--cfg-options',
                  'train_dataloader.dataset.on_broken=skip',
                  'val_dataloader.dataset.on_broken=skip'], cwd=tmp_path)
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    log = result.stdout
    for path in broken:  # each skip, from the DataLoader worker too
        assert f'Skipped broken image {path} (' in log
    assert 'empty file (0 bytes)' in log and 'truncated' in log
    # the per-epoch count, reported in the main process by the hook
    train_line = next(line for line in log.splitlines()
                      if 'Epoch(train) [1]: skipped' in line)
    assert '(2 file(s))' in train_line
    assert all(str(path) in train_line for path in broken[:2])
    val_line = next(line for line in log.splitlines()
                    if 'Epoch(val) [1]: skipped' in line)
    assert '1 broken image(s) (1 file(s))' in val_line
    assert str(broken[2]) in val_line
    assert 'accuracy/top1' in log
    written = Path(next((tmp_path / 'work').glob('*/*.log')))
    assert 'Epoch(train) [1]: skipped' in written.read_text('utf-8')
