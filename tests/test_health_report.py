"""tools/dataset/report.py: a static HTML page that opens in a browser."""
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run
from test_duplicates import scene
from test_near_dup_wiring import photo



def sharp_scene(seed: int, size: int = 64) -> Image.Image:
    """:func:`scene` with fine noise: sharp enough not to count as blurred."""
    noise = np.random.default_rng(seed).integers(-40, 40, (size, size, 3))
    return Image.fromarray((np.asarray(scene(seed, size), int) + noise)
                           .clip(0, 255).astype(np.uint8))


@pytest.fixture(scope='module')
def report_dir(tmp_path_factory):
    """A small dataset with one of each problem, and its report."""
    base = tmp_path_factory.mktemp('health')
    root = base / 'data'
    fillers = iter(range(100, 112))  # fixed scenes (hash() of str varies)
    for split, count in (('train', 4), ('val', 2)):
        for label in ('苹果', 'pear'):
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                sharp_scene(next(fillers)).save(
                    root / split / label / f'{i}.png')
    photo(5, 3, 64).save(root / 'train' / 'pear' / 'orig.png')
    photo(5, 3, 64).resize((50, 50)).save(root / 'val' / 'pear' /
                                          'leak.jpg', quality=90)
    dark = np.random.default_rng(1).integers(0, 30, (64, 48, 3))
    Image.fromarray(dark.astype(np.uint8)).save(
        root / 'train' / 'pear' / 'dark.png')
    Image.fromarray(np.full((40, 64), 128, np.uint8)).save(
        root / 'train' / '苹果' / 'flat_grey.png')
    (root / 'train' / '苹果' / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0')
    out = base / 'report'
    result = run([sys.executable, 'tools/dataset/report.py', str(root),
                  '--out', str(out), '--workers', '1', '--min-size', '60'])
    return out, result


def test_report_page_lists_every_problem(report_dir):
    out, result = report_dir
    assert 'Wrote' in result.stdout
    page = (out / 'index.html').read_text('utf-8')
    for image in re.findall(r'<img src="([^"]+)"', page):
        assert (out / image).is_file(), image  # every picture is on disk
    assert 'http' not in page and '<script' not in page  # static, offline
    assert '苹果' in page
    assert re.search(r'Broken files \(1\)</h3><ul><li>train/苹果/broken.jpg',
                     page)
    assert re.search(r'Very dark images \(1\).*?train/pear/dark.png', page)
    assert re.search(r'Blurred or flat images \(1\):[^<]*</h3><ul><li>'
                     r'train/苹果/flat_grey.png', page)
    assert re.search(r'Tiny images \(3\)', page)  # 50, 48, 40 px sides
    assert '1 span splits (leakage)' in page
    assert 'train/pear/orig.png, val/pear/leak.jpg' in page
    assert '<td>grayscale</td><td>1</td>' in page
    assert 'not run (give <code>--config</code>)' in page


def test_report_opens_in_headless_chromium(report_dir, chromium):
    out, _ = report_dir
    shot = out / 'shot.png'
    page = chromium.new_page(viewport={'width': 900, 'height': 1200})
    page.goto((out / 'index.html').resolve().as_uri())
    loaded = page.evaluate(
        '[...document.images].every(i => i.complete && i.naturalWidth > 0)')
    page.screenshot(path=str(shot))
    assert loaded, 'an image of the report did not load'
    pixels = np.asarray(Image.open(shot).convert('L'), dtype=np.float64)
    assert pixels.shape == (1200, 900)
    assert pixels.std() > 20  # not a blank page: text and charts


def test_probe_section_shows_accuracy_and_suspects(tmp_path):
    from fruit_ext.datasets.check import CheckReport
    from fruit_ext.datasets.health.report import write_report
    from fruit_ext.datasets.label_issues import LabelIssue
    report = CheckReport(root='x', layout='split', counts={'train': {'a': 1}},
                         files=1, findings=[])
    rows = [LabelIssue('x/train/a/1.jpg', 'a', 'b', 0.05, 0.9)]
    page = Path(write_report(report, str(tmp_path), probe=dict(
        val_top1=87.5, rows=rows, images=10, folds=5, grid=None))).read_text(
            'utf-8')
    assert 'Linear-probe val top-1: 87.5 %' in page
    assert '1 suspected label issue(s) among 10 training images' in page
    assert '<td>x/train/a/1.jpg</td><td>a</td><td>b</td><td>0.050</td>' in page
