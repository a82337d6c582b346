"""Tests for tools/dataset/make_demo_fruit30.py (runs the script itself)."""
import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / 'tools' / 'dataset' / 'make_demo_fruit30.py'
TINY = ['--train-per-class', '2', '--val-per-class', '1', '--min-size', '40',
        '--max-size', '64', '--png-ratio', '0.5']


def _classes() -> List[str]:
    """fruit30 class names, loaded without importing the fruit_ext package."""
    path = REPO_ROOT / 'fruit_ext' / 'datasets' / 'categories.py'
    spec = importlib.util.spec_from_file_location('_categories', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.FRUIT30_CLASSES)


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
    start = time.perf_counter()
    result = _run(tiny_set, *TINY)
    assert result.returncode == 0, result.stderr
    assert 'up to date' in result.stdout
    assert time.perf_counter() - start < 10
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
