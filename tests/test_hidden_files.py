"""Hidden files and folders (names starting with '.') in a folder of photos.

macOS's ``._photo.jpg`` (AppleDouble: an image extension, no image),
``.DS_Store``, ``.git``, ``.ipynb_checkpoints``: no tool that lists a
dataset or a folder to predict takes them for a class, a sample or a broken
image; each says what it skipped.
"""
from pathlib import Path

import pytest
from mmengine.logging import MMLogger
from PIL import Image

from conftest import write_class_tree
from fruit_ext.apis import collect_images
from fruit_ext.apis.onnx_quantize import images_in
from fruit_ext.datasets import Fruit30
from fruit_ext.datasets.check import check_dataset
from fruit_ext.datasets.health.groups import class_images
from fruit_ext.datasets.hidden import is_hidden
from fruit_ext.datasets.shrink import shrink_dataset
from fruit_ext.datasets.split import plan_split

HIDDEN = ['.DS_Store', '.git', 'a/._0.jpg', 'b/.ipynb_checkpoints']


def plant_hidden_entries(class_root: Path) -> None:
    """What macOS, git and Jupyter leave in a folder of photos."""
    (class_root / '.git' / 'objects').mkdir(parents=True)
    (class_root / '.git' / 'HEAD').write_text('ref: refs/heads/main\n')
    (class_root / '.DS_Store').write_bytes(b'\0\0\0\1Bud1')
    # AppleDouble: an image extension, no image inside
    (class_root / 'a' / '._0.jpg').write_bytes(b'\0\5\26\7' + b'\0' * 80)
    thumbs = class_root / 'b' / '.ipynb_checkpoints'
    thumbs.mkdir()
    Image.new('RGB', (8, 8), 'red').save(thumbs / 'copy-checkpoint.jpg')


@pytest.mark.parametrize('layout', ['split', 'flat'])
def test_hidden_files_and_folders_are_skipped_and_logged(tmp_path, layout):
    root = write_class_tree(tmp_path / 'd', ('a', 'b'), {'train': 5})
    if layout == 'flat':  # class folders in the root, val held out
        root = root / 'train'
    plant_hidden_entries(root / 'train' if layout == 'split' else root)
    # the newest logger is the one the dataset logs to
    MMLogger.get_instance(f'hidden_{layout}', log_file=str(tmp_path / 'log'))
    dataset = Fruit30(data_root=str(root), split='train', classes='folders',
                      holdout=dict(ratio=0.2))
    assert dataset.metainfo['classes'] == ('a', 'b')
    names = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    assert len(names) == (10 if layout == 'split' else 8)
    assert not any('/.' in path for path in names)
    log = (tmp_path / 'log').read_text()
    assert ("4 hidden file(s)/folder(s) skipped (names starting with '.', "
            'not part of the dataset): .DS_Store, .git, a/._0.jpg, '
            'b/.ipynb_checkpoints') in log


@pytest.fixture
def photos(tmp_path) -> Path:
    """root/<class>/: a and b, 3 images each, and the hidden entries."""
    root = write_class_tree(tmp_path / 'tree', ('a', 'b'), {'all': 3})
    root = root / 'all'
    plant_hidden_entries(root)
    return root


def test_is_hidden_looks_at_every_part():
    assert is_hidden('.git') and is_hidden('a/._0.jpg')
    assert is_hidden('b/.thumbs/x.jpg')
    assert not is_hidden('a/0.jpg') and not is_hidden('./a/0.jpg')
    assert not is_hidden('a/x.y.jpg')


def test_check_reports_them_as_skipped_not_as_broken_or_classes(photos):
    report = check_dataset(str(photos), min_size=32, workers=1,
                           progress=False, near_duplicates=False)
    assert report.exit_code == 0, report.findings
    assert report.counts == {'': {'a': 3, 'b': 3}}
    [hidden] = [f for f in report.findings if f.kind == 'hidden']
    assert hidden.severity == 'warning' and hidden.paths == HIDDEN
    assert 'hidden' in hidden.message


def test_split_plan_and_groups_leave_them_out(photos):
    plan = plan_split(str(photos), (0.67, 0.33), seed=0)
    assert plan.counts == {'train': {'a': 2, 'b': 2}, 'val': {'a': 1, 'b': 1}}
    assert plan.hidden == HIDDEN and plan.ignored == 0
    assert [path for _, path in class_images(str(photos))] == \
        ['0.jpg', '1.jpg', '2.jpg'] * 2


def test_shrink_copies_only_visible_images_and_says_so(photos, tmp_path):
    results = dict(shrink_dataset(str(photos), str(tmp_path / 'out'), 16,
                                  workers=1))
    assert sorted(p.relative_to(tmp_path / 'out').as_posix()
                  for p in (tmp_path / 'out').rglob('*') if p.is_file()) == [
        f'{c}/{i}.jpg' for c in 'ab' for i in range(3)]
    for entry in HIDDEN:
        assert 'hidden' in results[str(photos / entry)]


def test_predicting_a_folder_skips_them_with_the_reason(photos):
    paths, problems = collect_images([str(photos)])
    assert sorted(Path(p).relative_to(photos).as_posix() for p in paths) == [
        f'{c}/{i}.jpg' for c in 'ab' for i in range(3)]
    assert {Path(p).relative_to(photos).as_posix(): reason
            for p, reason in problems} == {
        entry: "hidden file or folder (name starts with '.')"
        for entry in HIDDEN}
    assert sorted(Path(p).relative_to(photos).as_posix()
                  for p in images_in(str(photos))) == [
        f'{c}/{i}.jpg' for c in 'ab' for i in range(3)]
