"""check.py, split.py, report.py and find_duplicates.py: one near-duplicate
search, so the same groups in the same folder."""
import csv
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from fruit_ext.datasets.check import check_dataset
from fruit_ext.datasets.duplicates import (ALIGNED_CROP_STEPS,
                                           ALIGNED_THRESHOLD, DEFAULT_CONFIRM,
                                           DEFAULT_CROP_STEPS,
                                           DEFAULT_MIN_CORRELATION,
                                           DEFAULT_THRESHOLD, NearDupSettings,
                                           crop_boxes, find_duplicates)
from fruit_ext.datasets.health.groups import near_duplicate_groups
from test_duplicates import scene

TOOLS = ('check', 'split', 'report', 'find_duplicates')


def photo(layout: int, grain: int, size: int = 96) -> Image.Image:
    """:func:`scene` with a smooth random texture: detail that survives a
    resize and a JPEG, so a copy lines up in the aligned check."""
    grains = np.random.default_rng(grain).normal(128, 20, (16, 16))
    texture = np.asarray(Image.fromarray(grains.clip(0, 255).astype(
        np.uint8)).resize((size, size), Image.BICUBIC), float)[..., None]
    return Image.fromarray((np.asarray(scene(layout, size), float) +
                            texture - 128).clip(0, 255).astype(np.uint8))


def speckled(layout: int, grain: int, size: int = 96) -> Image.Image:
    """:func:`scene` with pixel noise: two grains are look-alikes (hashes 2
    bits apart) whose fine detail does not correlate."""
    noise = np.random.default_rng(grain).integers(-15, 16, (size, size, 3))
    return Image.fromarray((np.asarray(scene(layout, size), int) +
                            noise).clip(0, 255).astype(np.uint8))


def write_folder(root: Path, splits: bool = True) -> None:
    """Fillers, a resized JPEG copy and a look-alike pair; with ``splits``
    the copy and one look-alike are in val, else one folder per class."""
    place = {'orig.png': ('train', 'a'), 'copy.jpg': ('val', 'a'),
             'look1.png': ('train', 'b'), 'look2.png': ('val', 'b')}
    place.update({f'{i}.png': (('train', 'val')[i % 2], 'ab'[i // 3])
                  for i in range(6)})
    folders = {name: root.joinpath(*(where if splits else where[1:]))
               for name, where in place.items()}
    for folder in set(folders.values()):
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        photo(10 + i, 100 + i).save(folders[f'{i}.png'] / f'{i}.png')
    photo(50, 1).save(folders['orig.png'] / 'orig.png')
    photo(50, 1).resize((80, 80)).save(folders['copy.jpg'] / 'copy.jpg',
                                       quality=90)
    speckled(60, 1).save(folders['look1.png'] / 'look1.png')
    speckled(60, 2).save(folders['look2.png'] / 'look2.png')


def tool(name: str):
    """A tool's module, imported from tools/dataset/ (not a package)."""
    spec = importlib.util.spec_from_file_location(
        f'tool_{name}', REPO / 'tools' / 'dataset' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(name: str, argv, monkeypatch) -> int:
    """The tool's ``main()`` on ``argv``, in this process."""
    module = tool(name)
    monkeypatch.setattr(sys, 'argv', [f'{name}.py', *map(str, argv)])
    return module.main()


def groups_of(report) -> set:
    return {frozenset(report.items[i].path for i in g)
            for g in report.groups}


def test_every_tool_reports_the_same_groups(tmp_path, monkeypatch, capsys):
    root, raw = tmp_path / 'data', tmp_path / 'raw'
    write_folder(root)
    write_folder(raw, splits=False)
    copy = {frozenset({'train/a/orig.png', 'val/a/copy.jpg'})}
    assert run_main('find_duplicates', [root, '--out', tmp_path / 'd.csv',
                                        '--workers', 1], monkeypatch) == 1
    found = {}
    for row in csv.DictReader((tmp_path / 'd.csv').open(encoding='utf-8')):
        found.setdefault(row['group'], set()).add(row['path'])
    assert {frozenset(g) for g in found.values()} == copy
    assert run_main('check', [root, '--workers', 1, '--min-size', 32,
                              '--report', tmp_path / 'c.json'],
                    monkeypatch) == 1  # the copy leaks into val
    checked = json.loads((tmp_path / 'c.json').read_text('utf-8'))
    assert {frozenset(g) for g in checked['near_groups']} == copy
    assert 'look' not in json.dumps(checked['findings'])
    assert {frozenset(g) for g in check_dataset(  # the library's default
        str(root), min_size=32, workers=1, progress=False).near_groups} == copy
    assert run_main('report', [root, '--out', tmp_path / 'page', '--workers',
                               1, '--min-size', 32], monkeypatch) == 0
    page = (tmp_path / 'page' / 'index.html').read_text('utf-8')
    section = re.search(r'<h2>Near-duplicates: (\d+) group.*?(<h2>|$)',
                        page, re.S)
    assert section.group(1) == '1' and 'look' not in section.group(0)
    assert 'train/a/orig.png, val/a/copy.jpg' in section.group(0)
    capsys.readouterr()
    assert run_main('split', [raw, tmp_path / 'out', '--dry-run',
                              '--workers', 1], monkeypatch) == 0
    assert '2 image(s) in 1 near-duplicate group(s)' in capsys.readouterr(
    ).out
    near = near_duplicate_groups(str(raw), progress=False)
    assert sorted(near) == ['a/copy.jpg', 'a/orig.png']
    assert groups_of(find_duplicates(str(raw), progress=False)) == {
        frozenset(near)}
    # the fast variant (threshold 4, 49 boxes, no aligned check) takes the
    # look-alikes for copies, in every tool alike
    fast = NearDupSettings.resolve(align=None)
    both = copy | {frozenset({'train/b/look1.png', 'val/b/look2.png'})}
    assert groups_of(find_duplicates(str(root), progress=False,
                                     align=None)) == both
    assert {frozenset(g) for g in check_dataset(
        str(root), min_size=32, workers=1, progress=False,
        near=fast).near_groups} == both
    assert len(set(near_duplicate_groups(str(raw), fast, progress=False)
                   .values())) == 2


def parsed(name: str, argv, monkeypatch):
    module = tool(name)
    monkeypatch.setattr(sys, 'argv', [f'{name}.py', *argv])
    return module.parse_args()


def test_one_resolution_of_the_settings_and_options(monkeypatch, capsys):
    full = NearDupSettings(ALIGNED_THRESHOLD, DEFAULT_MIN_CORRELATION,
                           ALIGNED_CROP_STEPS, None)
    fast = NearDupSettings(DEFAULT_THRESHOLD, None, DEFAULT_CROP_STEPS, None)
    assert NearDupSettings() == NearDupSettings.resolve() == full
    assert NearDupSettings.resolve(align=None) == fast
    assert NearDupSettings.resolve(5, None, 4, 30) == NearDupSettings(
        5, None, 4, 30)
    positional = {'check': ['r'], 'split': ['r', 'o'], 'report': ['r'],
                  'find_duplicates': ['r']}
    for name in TOOLS:
        args = positional[name]
        assert parsed(name, args, monkeypatch).near == full, name
        assert parsed(name, [*args, '--no-align'], monkeypatch).near == fast
        assert parsed(name, [*args, '--align', '0.5', '--crop-steps', '3',
                             '--confirm'], monkeypatch).near == \
            NearDupSettings(ALIGNED_THRESHOLD, 0.5, 3, DEFAULT_CONFIRM)
        assert parsed(name, [*args, '--near-threshold', '2'],
                      monkeypatch).near.threshold == 2
    assert parsed('find_duplicates', ['r', '--threshold', '5'],
                  monkeypatch).near.threshold == 5  # its old name
    for name, argv in (('check', ['r', '--align', '2']),
                       ('check', ['r', '--near-dups', 'off', '--no-align']),
                       ('check', ['--restore', 'q', '--near-threshold', '3']),
                       ('split', ['r', 'o', '--no-near-dups',
                                  '--near-threshold', '3']),
                       ('report', ['r', '--crop-steps', '1']),
                       ('find_duplicates', ['r', '--align', '1',
                                            '--no-align'])):
        with pytest.raises(SystemExit):  # never silently ignored
            parsed(name, argv, monkeypatch)
    for name in TOOLS:  # every --help states the defaults resolved
        with pytest.raises(SystemExit):
            parsed(name, ['--help'], monkeypatch)
        said = ' '.join(capsys.readouterr().out.split())
        full, fast = (len(crop_boxes(s)) for s in (ALIGNED_CROP_STEPS,
                                                   DEFAULT_CROP_STEPS))
        assert f'threshold {ALIGNED_THRESHOLD}, --align ' \
            f'{DEFAULT_MIN_CORRELATION}, {full} crop boxes per image. Fast ' \
            f'variant, --no-align: threshold {DEFAULT_THRESHOLD}, {fast} ' \
            'boxes' in said, name
        assert f'--confirm alone: {DEFAULT_CONFIRM} bits' in said

def test_check_and_report_hash_the_pixels_find_duplicates_hashes(tmp_path):
    from fruit_ext.datasets.duplicates import hash_file
    from fruit_ext.datasets.health.measure import measure_file
    path = tmp_path / 'big.jpg'  # decoded at 1/4 for the hashes, 1/2 stats
    photo(3, 4).resize((800, 600)).save(path, quality=90)
    for stats in (False, True):  # check, the health report
        measured = measure_file(str(path), 32, hashes=ALIGNED_CROP_STEPS,
                                stats=stats)
        assert (measured['hashes'] == hash_file(str(path),
                                                ALIGNED_CROP_STEPS)).all()
    assert measured['stats']['width'] == 800
