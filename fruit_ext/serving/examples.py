"""Example photos for the page: a folder, the config's val split, or the
built-in demo set drawn on the fly."""
import glob
import os
import os.path as osp
from typing import List, Optional

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def folder_examples(folder: str, limit: int = 12,
                    per_class: bool = True) -> List[str]:
    """Images in ``folder`` (one per class sub-folder when it has them).

    Args:
        folder: A folder of images, or of class folders of images.
        limit: Most files returned.
        per_class: Take the first image of each class folder.
    """
    files = sorted(p for p in glob.glob(osp.join(folder, '**', '*'),
                                        recursive=True)
                   if p.lower().endswith(IMAGE_SUFFIXES) and osp.isfile(p))
    if per_class:
        first = {}
        for path in files:
            first.setdefault(osp.dirname(path), path)
        files = list(first.values())
    return files[:limit]


def val_split_examples(config, limit: int = 12) -> List[str]:
    """The first image of each class of the config's val folder, if on disk.

    Args:
        config: The model's :class:`mmengine.Config`.
        limit: Most files returned.
    """
    dataset = config.get('val_dataloader', {}).get('dataset', {})
    root = dataset.get('data_root') or config.get('data_root')
    if not root:
        return []
    for split in ('val', dataset.get('split') or 'val'):
        if osp.isdir(osp.join(root, split)):
            return folder_examples(osp.join(root, split), limit)
    return []


def demo_examples(out_dir: str, count: int = 10, size: int = 160) -> List[str]:
    """Draw ``count`` pictures of the built-in demo set (fruit30 classes).

    Args:
        out_dir: Where to write them.
        count: Pictures, spread over the 30 classes.
        size: Picture side.
    """
    import numpy as np

    from ..datasets.categories import FRUIT30_CLASSES
    from ..datasets.demo import render_image
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for cls in range(0, len(FRUIT30_CLASSES), max(1, 30 // count))[:count]:
        path = osp.join(out_dir, f'{FRUIT30_CLASSES[cls]}.jpg')
        if not osp.isfile(path):
            rng = np.random.default_rng([7, cls])
            render_image(cls, (size, size), rng).save(path, quality=90)
        paths.append(path)
    return paths


def find_examples(backend, folder: Optional[str], tmp: str) -> List[str]:
    """Examples for the page, best source first.

    Args:
        backend: The served model (a PyTorch one has a config).
        folder: ``--examples`` folder, if given.
        tmp: Where drawn demo pictures go.
    """
    if folder:
        return folder_examples(folder)
    if backend.backend != 'pytorch':
        return []  # no config, and drawing the demo set needs the package
    found = val_split_examples(backend.inferencer.inferencer.config)
    return found or demo_examples(osp.join(tmp, 'examples'))
