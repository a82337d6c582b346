"""Settings given once reach every place: data_root, classes, max_epochs."""
from pathlib import Path

import pytest
from mmengine.config import Config

from fruit_ext.datasets import Fruit30
from fruit_ext.engine.resolve_config import datasets_of, resolve_config

from conftest import REPO, write_class_tree

CONFIGS = sorted(str(p.relative_to(REPO)) for p in
                 list((REPO / 'configs').glob('*.py')) +
                 list((REPO / 'configs' / 'folder').glob('*.py')))
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _resolved(config: str, options: dict) -> Config:
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict(options)
    resolve_config(cfg)
    return cfg


@pytest.mark.parametrize('config', CONFIGS)
def test_data_root_option_moves_every_dataloader(config, tmp_path):
    """--cfg-options data_root=X, or one dataloader's, reaches all three."""
    mine = str(write_class_tree(tmp_path / 'mine', classes=['a', 'b'],
                                size=8))
    for options in ({'data_root': mine},
                    {'train_dataloader.dataset.data_root': mine}):
        roots = {name: dataset['data_root'] for name, dataset in
                 datasets_of(_resolved(config, options)).items()}
        assert set(roots) == set(LOADERS)
        assert set(roots.values()) == {mine}, (config, options)


def test_inheriting_config_sets_data_root_in_one_line(tmp_path):
    """A config that only says data_root = ... over the fruit30 base."""
    child = tmp_path / 'mine.py'
    child.write_text(f"_base_ = {str(REPO / 'configs/mobilenet-v2_fruit.py')!r}"
                     "\ndata_root = 'data/elsewhere'\n")
    cfg = Config.fromfile(str(child))
    resolve_config(cfg)
    assert {d['data_root'] for d in datasets_of(cfg).values()} == \
        {'data/elsewhere'}


def test_explicit_other_test_root_is_kept():
    cfg = _resolved('configs/mobilenet-v2_fruit.py', {
        'data_root': 'D', 'test_dataloader.dataset.data_root': 'T'})
    roots = {n: d['data_root'] for n, d in datasets_of(cfg).items()}
    assert roots == {'train_dataloader': 'D', 'val_dataloader': 'D',
                     'test_dataloader': 'T'}


def test_a_dataset_replaced_without_data_root_is_left_alone():
    """A test set swapped for a type without data_root (here through
    --cfg-options with _delete_) neither breaks resolving nor gets one."""
    cfg = Config.fromfile(str(REPO / 'configs/mobilenet-v2_fruit.py'))
    cfg.merge_from_dict({'data_root': 'D', 'test_dataloader.dataset': dict(
        _delete_=True, type='CustomDataset', ann_file='list.txt',
        pipeline=[])})
    resolve_config(cfg)
    roots = {n: d.get('data_root') for n, d in datasets_of(cfg).items()}
    assert roots == {'train_dataloader': 'D', 'val_dataloader': 'D',
                     'test_dataloader': None}


def test_max_epochs_stretches_the_schedule():
    cfg = _resolved('configs/mobilenet-v2_fruit_demo.py',
                    {'train_cfg.max_epochs': 5})
    assert cfg.param_scheduler['T_max'] == 5
    cfg = _resolved('configs/mobilenet-v2_fruit_ft.py',
                    {'train_cfg.max_epochs': 7})
    cosine = [s for s in cfg.param_scheduler
              if s['type'] == 'CosineAnnealingLR']
    assert cosine and all(s['end'] == 7 for s in cosine)


def test_folder_classes_size_head_preprocessor_and_topk(tmp_path):
    root = write_class_tree(tmp_path / 'photos', classes=['b', 'a', 'c'],
                            per_split={'train': 2}, size=8)
    cfg = _resolved('configs/folder/mobilenet-v2_folder.py',
                    {'data_root': str(root)})
    assert cfg.model.head.num_classes == 3
    assert cfg.data_preprocessor.num_classes == 3
    assert tuple(cfg.val_evaluator.topk) == (1, )
    for dataset in datasets_of(cfg).values():
        assert list(dataset['classes']) == ['a', 'b', 'c']
    (root / 'classes.txt').write_text('c\nb\na\n')
    cfg = _resolved('configs/folder/mobilenet-v2_folder.py',
                    {'data_root': str(root)})
    assert list(cfg.train_dataloader.dataset.classes) == ['c', 'b', 'a']


def test_class_count_mismatch_is_an_error_with_the_fix(tmp_path):
    """31 folders with a 30-way head: refused before anything is built."""
    names = [f'class{i:02d}' for i in range(31)]
    root = write_class_tree(tmp_path / 'photos', classes=names,
                            per_split={'train': 1, 'val': 1}, size=8)
    with pytest.raises(ValueError, match='31 classes.*num_classes.*30') as e:
        _resolved('configs/mobilenet-v2_fruit.py', {
            'data_root': str(root),
            'train_dataloader.dataset.classes': 'folders'})
    assert 'classes=' in str(e.value) and 'configs/folder' in str(e.value)


def test_holdout_split_is_stratified_disjoint_and_stable(tmp_path):
    root = write_class_tree(tmp_path / 'flat', classes=['x', 'y'],
                            per_split={'train': 10}, size=8)
    for name in ('x', 'y'):  # flat layout: class folders in the root
        (root / 'train' / name).rename(root / name)
    (root / 'train').rmdir()

    def paths(split):
        dataset = Fruit30(data_root=str(root), split=split,
                          classes='folders', holdout=dict(ratio=0.3, seed=1))
        return [(dataset.get_data_info(i)['img_path'],
                 dataset.get_data_info(i)['gt_label'])
                for i in range(len(dataset))]

    train, val = paths('train'), paths('val')
    assert len(train) == 14 and len(val) == 6
    assert not {p for p, _ in train} & {p for p, _ in val}
    assert sorted(label for _, label in val) == [0, 0, 0, 1, 1, 1]
    assert paths('val') == val
    with pytest.raises(FileNotFoundError, match='val'):
        Fruit30(data_root=str(root), split='val', classes='folders')


def test_child_config_with_fewer_epochs_stretches_the_inherited_cosine(
        tmp_path):
    """A config over the demo that only sets max_epochs: T_max follows."""
    child = tmp_path / 'short.py'
    child.write_text(
        f"_base_ = {str(REPO / 'configs/mobilenet-v2_fruit_demo.py')!r}\n"
        'train_cfg = dict(max_epochs=3)\n')
    cfg = Config.fromfile(str(child))
    assert 'schedule follows max_epochs 40 -> 3 (CosineAnnealingLR)' in \
        resolve_config(cfg)
    assert cfg.param_scheduler['T_max'] == 3
    cfg = _resolved('configs/mobilenet-v2_fruit_ft.py',
                    {'train_cfg.max_epochs': 1})  # cosine after warm-up
    assert [s['end'] for s in cfg.param_scheduler] == [1, 20]


@pytest.mark.parametrize('config', CONFIGS)
def test_every_recipe_keeps_the_main_configs_hooks(config):
    """A recipe that lists its own hooks still has the main config's."""
    hooks = [h['type'] for h in Config.fromfile(str(REPO / config))
             .custom_hooks]
    for needed in ('LRScalingLogHook', 'BrokenImageLogHook',
                   'ChannelsLastHook', 'CheckpointLinksHook'):
        assert needed in hooks, (config, hooks)
    assert len(hooks) == len(set(hooks)), hooks
