"""Tiny real checkpoints, written the way mmengine's Runner writes them.

A checkpoint here is what ``Runner.save_checkpoint`` stores, minus the
optimizer: ``state_dict`` of a model built from a real config, and ``meta``
with the dumped config text (``cfg``) and ``dataset_meta``. Building one takes
about a second, so tests need no training run.
"""
from pathlib import Path
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config
from mmpretrain import get_model

from conftest import REPO, tiny_config
from fruit_ext.datasets import FRUIT30_CLASSES


def tiny_cfg(tmp_path: Path, data_root: Path, extra: str = '',
             name: str = 'tiny.py', base: Optional[Path] = None) -> Path:
    """:func:`conftest.tiny_config` written under ``tmp_path``."""
    return tiny_config(tmp_path / name, data_root, work_extra=extra, base=base)


def save_checkpoint(config: Path, out: Path,
                    classes: Optional[List[str]] = None,
                    seed: int = 0) -> Tuple[Path, torch.nn.Module]:
    """Build the config's model with random weights and save it as mmengine.

    Args:
        config: Config file (its ``model`` is built, its text stored).
        out: ``.pth`` to write.
        classes: ``dataset_meta`` class names (fruit30's by default).
        seed: Weight initialisation seed.

    Returns:
        (the file, the model whose weights it holds).
    """
    torch.manual_seed(seed)
    cfg = Config.fromfile(str(config))
    model = get_model(cfg)
    meta = dict(cfg=cfg.pretty_text, epoch=1, iter=1,
                dataset_meta=dict(classes=list(classes or FRUIT30_CLASSES)))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(meta=meta, state_dict=model.state_dict()), out)
    return out, model


def ten_class_config(tmp_path: Path, data_root: Path) -> Path:
    """A tiny config whose head has 10 classes (an explicit class list)."""
    return tiny_cfg(tmp_path, data_root, name='tiny10.py', extra=f'''
model['head']['num_classes'] = 10
data_preprocessor = dict(num_classes=10)
val_evaluator = dict(topk=(1, ))
train_dataloader['dataset']['classes'] = {list(FRUIT30_CLASSES[:10])!r}
val_dataloader['dataset']['classes'] = {list(FRUIT30_CLASSES[:10])!r}
''')


def resnet_config(tmp_path: Path, data_root: Path) -> Path:
    """A tiny ResNet-18 config for the fruit30 classes."""
    return tiny_cfg(tmp_path, data_root, name='resnet.py', extra='''
model = dict(backbone=dict(_delete_=True, type='ResNet', depth=18),
             head=dict(in_channels=512, num_classes=30))
''')


MAIN_CONFIG = REPO / 'configs' / 'mobilenet-v2_fruit.py'
DEMO_CONFIG = REPO / 'configs' / 'mobilenet-v2_fruit_demo.py'
