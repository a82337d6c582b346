"""tools/dataset/split.py and tools/dataset/resize.py on generated folders."""
import csv
import os
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import run, write_class_tree
from fruit_ext.datasets.shrink import shrink_dataset
from fruit_ext.datasets.split import apply_split, plan_split, split_sizes
from test_data_check import photo, tree_digest, write_exif_rotated


@pytest.fixture
def raw(tmp_path) -> Path:
    """root/<class>/: 10 apples, 7 pears (one nested), 1 lonely kiwi."""
    tree = write_class_tree(tmp_path / 'tree', ('苹果', 'pear', 'kiwi'),
                            {'all': 10}, size=32)
    root = tmp_path / 'raw'
    shutil.move(tree / 'all', root)
    for i in range(7, 10):
        (root / 'pear' / f'{i}.jpg').unlink()
    (root / 'pear' / 'nested').mkdir()
    (root / 'pear' / '6.jpg').rename(root / 'pear' / 'nested' / '6.jpg')
    for i in range(1, 10):
        (root / 'kiwi' / f'{i}.jpg').unlink()
    (root / 'pear' / 'notes.txt').write_text('not an image')
    return root


def test_split_sizes_share_by_largest_remainder():
    assert split_sizes(10, (0.8, 0.2)) == [8, 2]
    assert split_sizes(7, (0.8, 0.2)) == [6, 1]
    assert split_sizes(10, (0.7, 0.2, 0.1)) == [7, 2, 1]
    assert split_sizes(1, (0.8, 0.2)) == [1, 0]


def test_plan_is_stratified_deterministic_and_seeded(raw):
    plan = plan_split(str(raw), (0.7, 0.2, 0.1), seed=0)
    assert plan.counts == {'train': {'kiwi': 1, 'pear': 5, '苹果': 7},
                           'val': {'kiwi': 0, 'pear': 1, '苹果': 2},
                           'test': {'kiwi': 0, 'pear': 1, '苹果': 1}}
    assert plan.ignored == 1
    assert any("'kiwi' has 1 image(s)" in w for w in plan.warnings)
    again = plan_split(str(raw), (0.7, 0.2, 0.1), seed=0)
    assert again.files == plan.files
    other = plan_split(str(raw), (0.7, 0.2, 0.1), seed=1)
    assert other.files['val']['苹果'] != plan.files['val']['苹果']
    everything = sorted(p for split in plan.files.values()
                        for p in split['苹果'])
    assert everything == sorted(f'{i}.jpg' for i in range(10))
    # a copy, which the file system may list in another order, splits alike
    shutil.copytree(raw, raw.parent / 'copy')
    copy = plan_split(str(raw.parent / 'copy'), (0.7, 0.2, 0.1), seed=0)
    assert copy.files == plan.files
    with pytest.raises(ValueError, match='summing to 1'):
        plan_split(str(raw), (0.8, 0.3))


@pytest.mark.parametrize('mode', ['copy', 'symlink', 'move'])
def test_apply_never_touches_the_source_unless_move(raw, tmp_path, mode):
    before = tree_digest(raw)
    plan = plan_split(str(raw))
    out = tmp_path / 'out'
    apply_split(plan, str(out), mode)
    written = tree_digest(out)
    assert len(written) == 18
    assert written['train/pear/nested/6.jpg'] == before['pear/nested/6.jpg'] \
        or written['val/pear/nested/6.jpg'] == before['pear/nested/6.jpg']
    assert (out / 'val' / 'kiwi').is_dir()  # same classes in every split
    if mode == 'move':
        assert set(tree_digest(raw)) == {'pear/notes.txt'}
    else:
        assert tree_digest(raw) == before
    if mode == 'symlink':
        assert (out / 'train' / 'kiwi' / '0.jpg').is_symlink()
    with pytest.raises(FileExistsError, match='--force'):
        apply_split(plan, str(out), 'copy')
    with pytest.raises(ValueError, match='overlap'):
        apply_split(plan, str(raw / 'inside'), 'copy', force=True)


def test_split_tool_writes_table_csv_chart_and_dry_runs(raw, tmp_path):
    out = tmp_path / 'split'
    dry = run([sys.executable, 'tools/dataset/split.py', str(raw), str(out),
               '--dry-run'])
    assert 'Dry run' in dry.stdout and not out.exists()
    assert "'kiwi' has 1 image(s)" in dry.stdout
    result = run([sys.executable, 'tools/dataset/split.py', str(raw),
                  str(out), '--seed', '3'])
    assert '苹果' in result.stdout and 'total' in result.stdout
    with open(out / 'split_counts.csv', encoding='utf-8') as file:
        rows = list(csv.DictReader(file))
    assert {r['class']: (r['train'], r['val']) for r in rows} == {
        'kiwi': ('1', '0'), 'pear': ('6', '1'), '苹果': ('8', '2')}
    assert (out / 'split_counts.png').stat().st_size > 0
    assert Image.open(out / 'split_counts.png').format == 'PNG'
    assert sorted(os.listdir(out / 'val' / '苹果')) == sorted(
        plan_split(str(raw), seed=3).files['val']['苹果'])


def test_shrink_applies_exif_keeps_layout_and_lists_broken(tmp_path):
    src = tmp_path / 'src'
    (src / 'train' / 'a').mkdir(parents=True)
    photo(1200, 900).save(src / 'train' / 'a' / 'big.jpg')
    write_exif_rotated(src / 'train' / 'a' / 'turned.jpg')
    photo(40, 30).convert('RGBA').save(src / 'train' / 'a' / 'small.png')
    (src / 'train' / 'a' / 'broken.jpg').write_bytes(b'\xff\xd8\xff')
    results = dict(shrink_dataset(str(src), str(tmp_path / 'out'), 320,
                                  workers=1))
    out = tmp_path / 'out' / 'train' / 'a'
    assert Image.open(out / 'big.jpg').size == (320, 240)
    assert Image.open(out / 'turned.jpg').size == (32, 48)  # upright now
    assert (out / 'small.png').read_bytes() == (
        src / 'train' / 'a' / 'small.png').read_bytes()
    assert not (out / 'broken.jpg').exists()
    assert results[str(src / 'train' / 'a' / 'broken.jpg')].startswith(
        'failed: ')
    with pytest.raises(FileExistsError):
        shrink_dataset(str(src), str(tmp_path / 'out'), 320, workers=1)
