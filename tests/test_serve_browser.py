"""The served page in headless Chromium (Debian's, driven by Playwright)."""
import io
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from mmpretrain import inference_model
from PIL import Image

from conftest import CHROMIUM
from fruit_ext.apis.inference import init_model

# checked before the server starts (the chromium fixture checks it too)
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f'{CHROMIUM} is missing: the set-up installs Debian\'s chromium '
    'where apt runs as root (apt-get install chromium)')
STATUS = '#status'


def wait_status(page, text: str) -> str:
    """Wait until the status line contains ``text``; return the line."""
    page.wait_for_function(
        'text => (document.querySelector("#status")?.innerText || "")'
        '.includes(text)', arg=text, timeout=30000)
    return page.locator(STATUS).inner_text()


def upload(page, path: Path) -> None:
    page.locator('#photo input[type=file]').set_input_files(str(path))


def test_page_shows_the_models_top1_and_refuses_broken_files(
        served_model, fruit_tree, tmp_path: Path, chromium):
    url, process, config, checkpoint = served_model
    model = init_model(str(config), str(checkpoint))
    photos = [fruit_tree / 'val' / '草莓' / '0.jpg',
              fruit_tree / 'val' / '苹果-红' / '0.jpg']
    expected = [inference_model(model, str(p))['pred_class'] for p in photos]
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)
    Image.fromarray(noise).save(buffer, 'JPEG')
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(buffer.getvalue()[:buffer.tell() // 2])
    hosts = set()
    page = chromium.new_page(viewport={'width': 1200, 'height': 800})
    page.on('request',
            lambda r: hosts.add(re.sub(r'^\w+://([^/]+).*', r'\1',
                                       r.url)))
    page.goto(url, wait_until='networkidle')
    upload(page, photos[0])
    shown = wait_status(page, 'Top-1')
    assert f'**{expected[0]}**' not in shown  # rendered, not raw
    assert shown.startswith(f'Top-1: {expected[0]} (')
    heading = page.locator('#top5 h2, #top5 .output-class').first
    assert heading.inner_text().startswith(expected[0])
    # Grad-CAM: the toggle reruns the photo and adds the overlay
    page.locator('#cam input[type=checkbox]').check()
    page.wait_for_selector('#overlay img', timeout=30000)
    assert wait_status(page, 'Top-1') == shown
    page.screenshot(path=str(tmp_path / 'page.png'), full_page=True)

    upload(page, empty)
    assert 'empty file' in wait_status(page, 'Cannot classify')
    upload(page, cut)
    assert 'cut.jpg' in wait_status(page, 'truncated')
    page.screenshot(path=str(tmp_path / 'refused.png'))

    upload(page, photos[1])  # served normally after the errors
    shown = wait_status(page, 'Top-1')
    assert shown.startswith(f'Top-1: {expected[1]} (')

    page.get_by_role('tab', name='Batch').click()
    page.locator('#batch_files input[type=file]').set_input_files(
        [str(p) for p in photos] + [str(empty)])
    page.get_by_role('button', name='Classify all').click()
    page.wait_for_selector('#batch_csv a', timeout=30000)
    rows = page.locator(
        '#batch_table [role=row]').all_inner_texts()[1:]  # header
    assert [r.split('\n')[:2] for r in rows[:2]] == \
        [[p.name, e] for p, e in zip(photos, expected)]
    assert 'empty file' in rows[2]
    # the page fetched nothing but the server's own assets (no CDN, fonts,
    # analytics)
    assert hosts == {url[len('http://'):]}, hosts
    assert process.poll() is None
    keep = os.environ.get('FRUIT_SERVE_SCREENSHOTS')
    if keep:  # for looking at them: readable, Chinese names in a CJK font
        for name in ('page.png', 'refused.png'):
            shutil.copy(tmp_path / name, Path(keep) / name)
