"""Shared fixtures: tiny real image folders and tiny configs on disk."""
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pytest
import torch
from PIL import Image

from fruit_ext.datasets import FRUIT30_CLASSES

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def write_class_tree(root: Path,
                     classes: Sequence[str] = FRUIT30_CLASSES,
                     per_split: Optional[Dict[str, int]] = None,
                     size: int = 40,
                     seed: int = 0) -> Path:
    """Write ``root/{split}/<class>/*.jpg``: one colour and stripe per class.

    Args:
        root: Dataset root to create.
        classes: Class folder names.
        per_split: Images per class for each split.
        size: Image side in pixels.
        seed: Noise seed.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    per_split = per_split or {'train': 2, 'val': 1}
    for split, count in per_split.items():
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            hue = np.array([index * 37 % 256, index * 91 % 256,
                            index * 53 % 256])
            for i in range(count):
                pixels = rng.integers(0, 40, (size, size, 3)) + hue * 0.8
                pixels[:, (index % 8) * size // 8:][:, :size // 8] = 255
                Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
                    folder / f'{i}.jpg')
    return root


def tiny_config(path: Path, data_root: Path, work_extra: str = '',
                base: Optional[Path] = None) -> Path:
    """A config inheriting configs/mobilenet-v2_fruit.py, sized for tests.

    Args:
        path: Where to write the config.
        data_root: Dataset root for train and val.
        work_extra: Extra config lines appended at the end.
        base: Config to inherit (the main fruit config by default).

    Returns:
        ``path``.
    """
    base = base or REPO / 'configs' / 'mobilenet-v2_fruit.py'
    path.write_text(f'''
_base_ = {str(base)!r}
data_root = {str(data_root)!r}
load_from = None
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, backend='pillow'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32), backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(backbone=dict(widen_factor=0.35), head=dict(in_channels=1280))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
# fp32 NCHW on every CPU, so results do not depend on the test machine's
# bf16 support (test_cpu_fast_path.py turns the fast path on itself)
cpu_fast_path = False
{work_extra}
''')
    return path


def three_class_config(path: Path, data_root: Path, extra: str = '') -> Path:
    """:func:`tiny_config` for 3 classes from the folders, batch 4.

    Args:
        path: Where to write the config.
        data_root: Dataset root with 3 class folders per split.
        extra: Model, hooks and other lines appended at the end.

    Returns:
        ``path``.
    """
    return tiny_config(path, data_root, f'''
data_preprocessor = dict(num_classes=3)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, classes='folders',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, classes='folders',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=-1,
                                     save_best=None))
{extra}''')


def run(cmd: List[str], cwd: Path = REPO, timeout: int = 600,
        env: Optional[dict] = None, check: bool = True
        ) -> subprocess.CompletedProcess:
    """Run a real process, with the venv's bin on PATH.

    Args:
        cmd: Command and arguments.
        cwd: Working directory.
        timeout: Seconds before the test fails.
        env: Extra environment variables.
        check: Fail the test on a non-zero exit code.

    Returns:
        The completed process (stdout and stderr merged in ``stdout``).
    """
    full_env = dict(os.environ)
    full_env['PATH'] = f'{BIN}{os.pathsep}{full_env.get("PATH", "")}'
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env.update(env or {})
    result = subprocess.run(
        cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f'{" ".join(map(str, cmd))} exited {result.returncode}:\n'
                    f'{result.stdout[-6000:]}')
    return result


@pytest.fixture(scope='module')
def one_thread():
    """One torch thread for a module's in-process training (on a busy 2-core
    host two threads stall each other); use with
    ``pytestmark = pytest.mark.usefixtures('one_thread')``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def fruit_tree(tmp_path_factory) -> Path:
    """A tiny fruit30-layout dataset (30 classes, 2 train + 1 val each)."""
    return write_class_tree(tmp_path_factory.mktemp('fruit30') / 'fruit30')


@pytest.fixture(scope='session')
def served_model(tmp_path_factory, fruit_tree):
    """``tools/demo/serve.py CONFIG CKPT`` on loopback for the session (the
    API and browser tests share it), with limits of 1 M pixels and 2 MB:
    (url, process, config, checkpoint)."""
    from serve_helpers import serve, tiny_served_model
    root = tmp_path_factory.mktemp('served')
    config, checkpoint = tiny_served_model(root, fruit_tree)
    with serve([str(config), str(checkpoint), '--max-wait-ms', '50',
                '--max-pixels', '1000000', '--max-bytes', '2000000'],
               root / 'serve.log') as (url, process):
        yield url, process, config, checkpoint


CHROMIUM = '/usr/bin/chromium'


@pytest.fixture
def chromium():
    """Debian's headless chromium driven by Playwright: a browser, closed
    after the test. Skips only where chromium is not installed (the set-up
    installs it wherever apt runs as root)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f'{CHROMIUM} is missing: the set-up installs Debian\'s '
                    'chromium where apt runs as root (apt-get install '
                    'chromium)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        # without the background-networking flags chromium keeps dialling
        # Google's hosts, which this closed network refuses
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=['--no-sandbox', '--disable-gpu',
                  '--disable-background-networking',
                  '--disable-component-update', '--disable-sync'])
        try:
            yield browser
        finally:
            browser.close()


def runner_from(config: Path, work_dir: Path, **updates):
    """An mmengine Runner of ``config`` built in process, with ``updates``
    merged and a unique experiment name (several runs share a work dir)."""
    import uuid

    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict(updates)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = uuid.uuid4().hex
    return Runner.from_cfg(cfg)
