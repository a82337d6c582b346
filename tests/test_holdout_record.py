"""The on-the-fly val split of a work dir stays put when photos are added."""
import json
import shutil
from pathlib import Path

import pytest
from mmengine.logging import MMLogger

from conftest import write_class_tree
from fruit_ext.datasets import Fruit30
from fruit_ext.datasets.holdout_record import RECORD_NAME
from fruit_ext.engine.resolve_config import datasets_of, resolve_config
from test_resolve_config import _resolved


def photos_with_room_to_grow(tmp_path) -> Path:
    """root/<class>/: 9 images of 'a' (7 now, 2 added later), 5 of 'b'."""
    tree = write_class_tree(tmp_path / 'tree', ('a', 'b'), {'all': 9},
                            size=8)
    root = tmp_path / 'photos'
    root.mkdir()
    for name, count in (('a', 7), ('b', 5)):
        (root / name).mkdir()
        for i in range(count):
            shutil.copy(tree / 'all' / name / f'{i}.jpg', root / name)
    return root


def split_files(root: Path, split: str, **holdout) -> set:
    dataset = Fruit30(data_root=str(root), split=split, classes='folders',
                      holdout=dict(dict(ratio=0.2, seed=0), **holdout))
    return {dataset.get_data_info(i)['img_path']
            for i in range(len(dataset))}


def test_added_photos_do_not_move_trained_images_into_val(tmp_path):
    root = photos_with_room_to_grow(tmp_path)
    record = tmp_path / 'work' / RECORD_NAME
    record.parent.mkdir()
    trained = split_files(root, 'train', record=str(record))
    first_val = split_files(root, 'val', record=str(record))
    assert record.is_file() and not trained & first_val
    for i in (7, 8):  # two more photos of 'a'
        shutil.copy(tmp_path / 'tree' / 'all' / 'a' / f'{i}.jpg',
                    root / 'a')
    # the rules alone would now validate on an image trained on before
    assert trained & split_files(root, 'val')
    MMLogger.get_instance('record_test', log_file=str(tmp_path / 'log'))
    val = split_files(root, 'val', record=str(record))
    train = split_files(root, 'train', record=str(record))
    assert not trained & val and first_val <= val
    assert train | val == {str(p) for p in root.rglob('*.jpg')}
    assert not train & val
    log = (tmp_path / 'log').read_text()
    assert f'val split kept from {record}: 2 new image(s)' in log
    recorded = json.loads(record.read_text())['files']
    assert sorted(recorded['train']['a'] + recorded['val']['a']) == \
        sorted(f'{i}.jpg' for i in range(9))


def test_other_settings_replace_the_record_with_a_warning(tmp_path):
    root = photos_with_room_to_grow(tmp_path)
    record = tmp_path / RECORD_NAME
    split_files(root, 'val', record=str(record))
    MMLogger.get_instance('record_seed', log_file=str(tmp_path / 'log'))
    val = split_files(root, 'val', record=str(record), seed=1)
    assert val == split_files(root, 'val', seed=1)
    assert 'made with other settings (seed 0)' in (tmp_path / 'log').read_text()
    assert json.loads(record.read_text())['seed'] == 1
    assert json.loads(Path(f'{record}.previous').read_text())['seed'] == 0
    # a config taken to where its work dir does not exist: nothing written
    gone = tmp_path / 'gone' / RECORD_NAME
    assert split_files(root, 'val', record=str(gone)) == \
        split_files(root, 'val')
    assert not gone.parent.exists()
    record.write_text('{"source": ')  # cut short
    with pytest.raises(ValueError, match=f'{record}: the recorded val split'):
        split_files(root, 'val', record=str(record))


def test_runner_config_points_holdout_splits_at_the_work_dir(tmp_path):
    root = photos_with_room_to_grow(tmp_path)
    cfg = _resolved('configs/folder/mobilenet-v2_folder.py',
                    {'data_root': str(root)})
    assert all('record' not in d['holdout']
               for d in datasets_of(cfg).values())  # no work dir: none
    cfg.work_dir = 'relative/work'
    resolve_config(cfg)
    expected = str(Path('relative/work').absolute() / RECORD_NAME)
    assert [d['holdout']['record'] for d in datasets_of(cfg).values()] == \
        [expected] * 3
