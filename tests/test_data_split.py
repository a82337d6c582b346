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


def test_groups_stay_in_one_split_and_classes_keep_their_ratio(tmp_path):
    root = tmp_path / 'raw'
    for name in ('a', 'b'):
        (root / name).mkdir(parents=True)
        for i in range(20):
            photo(seed=i).save(root / name / f'{i}.jpg')
    groups = {f'a/{i}.jpg': 'burst' for i in range(5)}
    groups.update({'a/10.jpg': 'cross', 'a/11.jpg': 'cross',
                   'b/3.jpg': 'cross'})  # two of class a, one of b
    for seed in range(6):
        plan = plan_split(str(root), (0.8, 0.2), seed, groups=groups)
        where = {f'{name}/{p}': split for split, per in plan.files.items()
                 for name, paths in per.items() for p in paths}
        assert len(where) == 40
        for key in ('burst', 'cross'):
            assert len({where[k] for k, g in groups.items()
                        if g == key}) == 1
        assert plan.groups_kept == 2
        # whole groups: each class within a group's size of 16/4
        assert abs(len(plan.files['train']['a']) - 16) <= 5
        assert abs(len(plan.files['train']['b']) - 16) <= 1
    # no groups: the plan is the per-image one
    assert plan_split(str(root), seed=1, groups={}).files == \
        plan_split(str(root), seed=1).files


def _jpeg_taken(path: Path, seed: int, when: str) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = when
    photo(seed=seed).save(path, exif=exif)


def test_split_tool_keeps_bursts_and_near_duplicates_together(tmp_path):
    root = tmp_path / 'raw'
    (root / 'apple').mkdir(parents=True)
    (root / 'pear').mkdir()
    for i in range(4):  # a burst 2 s apart, then single shots minutes apart
        _jpeg_taken(root / 'apple' / f'burst{i}.jpg', 100 + i,
                    f'2024:05:01 10:00:0{2 * i}')
    for i in range(6):
        _jpeg_taken(root / 'apple' / f'single{i}.jpg', 200 + i,
                    f'2024:05:01 1{i}:30:00')
    from test_near_dup_wiring import photo  # texture: copies line up
    for i in range(8):
        photo(300 + i, i).save(root / 'pear' / f'{i}.png')
    photo(300, 0).resize((80, 80)).save(root / 'pear' / 'copy.jpg',
                                        quality=90)
    (root / 'pear' / 'no_time.png').write_bytes(
        (root / 'pear' / '1.png').read_bytes())  # exact copy: a near-dup too
    from fruit_ext.datasets.health.groups import (burst_groups,
                                                  merge_groups,
                                                  near_duplicate_groups)
    near = near_duplicate_groups(str(root), progress=False)
    bursts, missing = burst_groups(str(root), 5)
    groups = merge_groups(near, bursts)
    together = (['apple/burst0.jpg', 'apple/burst1.jpg', 'apple/burst2.jpg',
                 'apple/burst3.jpg'], ['pear/0.png', 'pear/copy.jpg'],
                ['pear/1.png', 'pear/no_time.png'])
    assert missing == 10 and len(set(groups.values())) == 3
    assert sorted(groups) == sorted(sum(together, []))
    for seed in range(3):
        plan = plan_split(str(root), (0.5, 0.5), seed, groups=groups)
        where = {f'{name}/{p}': split for split, per in plan.files.items()
                 for name, paths in per.items() for p in paths}
        for members in together:
            assert len({where[m] for m in members}) == 1, (seed, members)
    out = tmp_path / 'out'
    result = run([sys.executable, 'tools/dataset/split.py', str(root),
                  str(out), '--seed', '2', '--ratio', '0.5', '0.5',
                  '--group-by', 'exif-time', '5'])
    assert '4 image(s) in 1 burst(s) within 5 s' in result.stdout
    assert '4 image(s) in 2 near-duplicate group(s)' in result.stdout
    assert '10 image(s) carry no EXIF time' in result.stdout
    assert sorted(os.listdir(out / 'val' / 'pear')) == sorted(
        plan.files['val']['pear'])
