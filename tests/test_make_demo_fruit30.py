"""Tests for tools/dataset/make_demo_fruit30.py (runs the script itself)."""
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from PIL import Image

from fruit_ext.datasets.categories import FRUIT30_CLASSES
from fruit_ext.datasets.demo.writer import Job, make_one

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / 'tools' / 'dataset' / 'make_demo_fruit30.py'
TINY = ['--train-per-class', '2', '--val-per-class', '1', '--min-size', '40',
        '--max-size', '64', '--png-ratio', '0.5']


#: SHA-256 of images written by the single-file generator (before it was
#: split into fruit_ext.datasets.demo) with ``--seed 5 --min-size 40
#: --max-size 64`` (default --png-ratio 0.1); numpy 2, Pillow and libjpeg as
#: installed by tools/setup_env.sh. Keys: (split id, class index, image index).
#: A data table: `duplicates` pairs its same-shape rows, as expected.
REFERENCE_SHA256 = {
    (0, 6, 0): (
        'train/桂圆/longan_0000.png',
        '718524ba0c2687045f7e1d8a4c6ccf6d62ac92d8aa83a34ad2d2d785b28d1a3c'),
    (0, 23, 0): (
        'train/葡萄-白/white_grape_0000.jpg',
        '9e1feba96bacf5d3b91b81cf7dbed577fad8df531bd4c4066d64345d64051f30'),
    (0, 27, 0): (
        'train/车厘子/cherry_0000.jpg',
        '27f48faf586cfcbc3fa6ee639cd978daa30756ffff842072cd537bdaa906e0f2'),
    (1, 28, 0): (
        'val/香蕉/banana_0000.jpg',
        'c50f9f1cd818a9a4890fcbe50f7af2882e1723e6e739ea049f6fcc31f4e1a9aa'),
}


def _classes() -> List[str]:
    """fruit30 class names."""
    return list(FRUIT30_CLASSES)


def _run(out: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the generator into ``out`` with extra arguments."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), '--out', str(out), *args],
        capture_output=True, text=True, timeout=120)


def _files(root: Path) -> Dict[str, bytes]:
    """Relative path -> content of every image under root."""
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.suffix in ('.jpg', '.png')}


@pytest.fixture(scope='module')
def tiny_set(tmp_path_factory) -> Path:
    """A tiny demo set generated with two workers."""
    out = tmp_path_factory.mktemp('demo') / 'fruit30_demo'
    result = _run(out, *TINY, '--workers', '2')
    assert result.returncode == 0, result.stderr
    return out


def test_layout_counts_and_images(tiny_set: Path) -> None:
    classes = _classes()
    assert len(classes) == 30
    for split, per_class in (('train', 2), ('val', 1)):
        folders = sorted(p.name for p in (tiny_set / split).iterdir())
        assert folders == sorted(classes)
        for name in classes:
            images = [p for p in (tiny_set / split / name).iterdir()
                      if p.suffix in ('.jpg', '.png')]
            assert len(images) == per_class, (split, name)
    files = list(tiny_set.rglob('*.jpg')) + list(tiny_set.rglob('*.png'))
    assert len(files) == 90
    assert any(p.suffix == '.png' for p in files)
    assert any(p.suffix == '.jpg' for p in files)
    for path in files:
        with Image.open(path) as img:
            img.load()
            assert img.mode == 'RGB'
            assert all(40 <= side <= 64 for side in img.size), img.size
    assert (tiny_set / 'demo_meta.json').is_file()


def test_deterministic_across_workers_and_seeds(tiny_set: Path,
                                                tmp_path: Path) -> None:
    same = tmp_path / 'same'
    assert _run(same, *TINY, '--workers', '1').returncode == 0
    reference = _files(tiny_set)
    assert _files(same) == reference
    other = tmp_path / 'other_seed'
    assert _run(other, *TINY, '--seed', '1', '--workers', '2').returncode == 0
    changed = _files(other)
    differing = [k for k in reference if reference[k] != changed.get(k)]
    assert len(differing) > len(reference) // 2


def test_rerun_is_noop_and_mismatch_fails(tiny_set: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in tiny_set.rglob('*')}
    result = _run(tiny_set, *TINY)
    assert result.returncode == 0, result.stderr
    assert 'up to date' in result.stdout
    assert {p: p.stat().st_mtime_ns for p in tiny_set.rglob('*')} == before

    result = _run(tiny_set, *TINY, '--seed', '7')
    assert result.returncode != 0
    assert '--force' in result.stderr
    assert {p: p.stat().st_mtime_ns for p in tiny_set.rglob('*')} == before


def test_foreign_folder_needs_force(tmp_path: Path) -> None:
    out = tmp_path / 'foreign'
    out.mkdir()
    (out / 'notes.txt').write_text('not a demo set')
    result = _run(out, *TINY, '--train-per-class', '1', '--val-per-class',
                  '0')
    assert result.returncode != 0
    result = _run(out, *TINY, '--train-per-class', '1', '--val-per-class',
                  '0', '--force')
    assert result.returncode == 0, result.stderr
    assert (out / 'notes.txt').is_file()
    assert len(list((out / 'train').rglob('*.*'))) == 30


def test_images_match_reference_hashes(tmp_path: Path) -> None:
    """The drawing code still writes the same bytes as before the split."""
    for (split_id, cls, index), (rel, digest) in REFERENCE_SHA256.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        written, size = make_one(
            Job(str(tmp_path), split_id, cls, index, 5, 40, 64, 0.1))
        assert written == rel
        data = (tmp_path / rel).read_bytes()
        assert size == len(data)
        assert hashlib.sha256(data).hexdigest() == digest, rel
