"""The Fruit30 dataset: classes, labels, extensions and clear errors."""
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import run, write_class_tree
from fruit_ext.datasets import FRUIT30_ALIASES, FRUIT30_CLASSES, Fruit30


def test_builds_with_canonical_classes_and_aliases(fruit_tree):
    dataset = Fruit30(data_root=str(fruit_tree), split='train')
    assert len(dataset) == 60
    assert dataset.metainfo['classes'] == FRUIT30_CLASSES
    assert dataset.metainfo['aliases'] == FRUIT30_ALIASES
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        folder = Path(info['img_path']).parent.name
        assert FRUIT30_CLASSES[info['gt_label']] == folder


def test_labels_follow_the_given_class_order(tmp_path):
    classes = ('zebra', 'apple', 'mango')
    root = write_class_tree(tmp_path / 'own', classes, {'train': 1})
    dataset = Fruit30(data_root=str(root), split='train', classes=classes)
    labels = {Path(dataset.get_data_info(i)['img_path']).parent.name:
              dataset.get_data_info(i)['gt_label'] for i in range(3)}
    assert labels == {'zebra': 0, 'apple': 1, 'mango': 2}
    class_file = tmp_path / 'classes.txt'
    class_file.write_text('\n'.join(classes) + '\n')
    assert Fruit30(data_root=str(root), split='train',
                   classes=str(class_file)).metainfo['classes'] == classes
    folders = Fruit30(data_root=str(root), split='train', classes='folders')
    assert folders.metainfo['classes'] == ('apple', 'mango', 'zebra')


def test_accepts_webp_and_nested_files(tmp_path):
    root = write_class_tree(tmp_path / 'd', ('a', 'b'), {'train': 1})
    Image.new('RGB', (8, 8), 'red').save(root / 'train' / 'a' / 'x.webp')
    (root / 'train' / 'b' / 'sub').mkdir()
    Image.new('RGB', (8, 8), 'blue').save(root / 'train' / 'b' / 'sub' / 'y.PNG')
    (root / 'train' / 'b' / 'notes.txt').write_text('not an image')
    dataset = Fruit30(data_root=str(root), split='train', classes='folders')
    paths = sorted(Path(dataset.get_data_info(i)['img_path']).name
                   for i in range(len(dataset)))
    assert paths == ['0.jpg', '0.jpg', 'x.webp', 'y.PNG']


def test_missing_data_root_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        Fruit30(data_root=str(tmp_path / 'nowhere'), split='train')
    message = str(info.value)
    assert str(tmp_path / 'nowhere') in message
    assert 'make_demo_fruit30.py' in message and 'fruit30_split' in message


def test_wrong_class_folders_are_listed(tmp_path, fruit_tree):
    root = tmp_path / 'wrong'
    shutil.copytree(fruit_tree, root)
    shutil.rmtree(root / 'train' / '香蕉')
    (root / 'train' / 'bananas').mkdir()
    with pytest.raises(ValueError) as info:
        Fruit30(data_root=str(root), split='train')
    message = str(info.value)
    assert "Missing: ['香蕉']" in message
    assert "Unexpected: ['bananas']" in message
    assert "classes='folders'" in message


def test_bad_split_is_rejected(fruit_tree):
    with pytest.raises(ValueError, match='split'):
        Fruit30(data_root=str(fruit_tree), split='training')


def test_custom_imports_from_a_config_elsewhere(tmp_path, fruit_tree):
    config = tmp_path / 'elsewhere' / 'my_config.py'
    config.parent.mkdir()
    config.write_text(
        "custom_imports = dict(imports=['fruit_ext'], "
        "allow_failed_imports=False)\n"
        f"dataset = dict(type='Fruit30', data_root={str(fruit_tree)!r}, "
        "split='val')\n")
    script = ('from mmengine.config import Config\n'
              'from mmpretrain.registry import DATASETS\n'
              f'cfg = Config.fromfile({str(config)!r})\n'
              'ds = DATASETS.build(cfg.dataset)\n'
              'print(type(ds).__name__, len(ds), ds.metainfo["classes"][0])')
    result = run([sys.executable, '-c', script], cwd=config.parent)
    assert 'Fruit30 30 哈密瓜' in result.stdout


@pytest.mark.parametrize('layout', ['split', 'flat'])
def test_a_class_without_training_images_is_an_error(tmp_path, layout):
    root = write_class_tree(tmp_path / 'd', ('a', 'b'), {'train': 5})
    classes = root / 'train'
    if layout == 'flat':
        root = classes
    (classes / 'c_heic_only').mkdir()
    (classes / 'c_heic_only' / 'IMG_1.HEIC').write_bytes(b'\0' * 64)
    with pytest.raises(ValueError) as info:
        Fruit30(data_root=str(root), split='train', classes='folders',
                holdout=dict(ratio=0.2))
    message = str(info.value)
    assert "['c_heic_only']" in message and str(classes) in message
    assert 'could not learn' in message and 'HEIC to JPEG' in message
    assert f'tools/dataset/check.py {root}' in message
    # a val split without a class is trained on, with a warning (as before)
    if layout == 'split':
        (root / 'val' / 'a').mkdir(parents=True)
        shutil.copy(classes / 'a' / '0.jpg', root / 'val' / 'a')
        (root / 'val' / 'b').mkdir()
        (root / 'val' / 'c_heic_only').mkdir()
        val = Fruit30(data_root=str(root), split='val', classes='folders')
        assert len(val) == 1


def test_class_lists_naming_a_class_twice_or_none_are_refused(tmp_path):
    root = write_class_tree(tmp_path / 'd', ('apple', 'pear'), {'train': 1})
    listed = tmp_path / 'classes.txt'
    # was: a 3-way head, 'apple' labelled 2 and label 0 never trained
    for spec, said in ((['apple', 'pear', 'apple'], "names ['apple'] more "
                        'than once'), ('apple\npear\napple\n', str(listed)),
                       ('\n \n', 'names no class')):
        if isinstance(spec, str):
            listed.write_text(spec)
            spec = str(listed)
        with pytest.raises(ValueError, match='list each class folder once') \
                as info:
            Fruit30(data_root=str(root), split='train', classes=spec)
        assert said in str(info.value)
    # a byte-order mark (Windows Notepad) and CRLF are not part of the names
    listed.write_bytes('\ufeffpear\r\napple\r\n'.encode('utf-8'))
    dataset = Fruit30(data_root=str(root), split='train', classes=str(listed))
    assert dataset.metainfo['classes'] == ('pear', 'apple')
