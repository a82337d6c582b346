"""Images for the training-throughput benchmark (train_throughput.py):
JPEG files cut from real photos, and the same images decoded into memory."""
import random
from pathlib import Path
from typing import List

import numpy as np

PHOTOS = Path('/usr/share/doc/opencv-doc/examples/data')
PHOTO_NAMES = ('apple.jpg', 'orange.jpg', 'fruits.jpg', 'baboon.jpg',
               'butterfly.jpg', 'messi5.jpg', 'squirrel_cls.jpg', 'home.jpg',
               'building.jpg', 'aloeL.jpg', 'leuvenA.jpg', 'left.jpg',
               'aero1.jpg', 'starry_night.jpg')


def wheel_photos() -> List[Path]:
    """Real photos shipped inside installed wheels (no Debian package):
    matplotlib's grace_hopper.jpg, scikit-learn's china.jpg and flower.jpg.

    Returns:
        The files found.
    """
    import importlib.util
    found = []
    for package, folder, names in (
            ('matplotlib', 'mpl-data/sample_data', ('grace_hopper.jpg', )),
            ('sklearn', 'datasets/images', ('china.jpg', 'flower.jpg'))):
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec \
                else []:
            found += [Path(location) / folder / name for name in names
                      if (Path(location) / folder / name).is_file()]
    return found


def make_photo_tree(root: Path, classes: int, per_class: int,
                    size: tuple = (800, 600), seed: int = 0) -> Path:
    """JPEG files in fruit30 layout cut from real photos (opencv-doc's, or
    those of installed wheels when it is absent).

    Args:
        root: Output root; ``root/train/<class>/*.jpg`` is written.
        classes: Number of classes (the fruit30 names are used).
        per_class: Images per class.
        size: Width and height of every image.
        seed: Crop seed.

    Returns:
        ``root``.
    """
    from PIL import Image

    from fruit_ext.datasets import FRUIT30_CLASSES

    sources = [PHOTOS / name for name in PHOTO_NAMES
               if (PHOTOS / name).is_file()] or wheel_photos()
    if not sources:
        raise SystemExit(f'No photos under {PHOTOS} nor in the matplotlib '
                         'and scikit-learn wheels: install Debian '
                         '`opencv-doc` or pass --data-root with a folder '
                         'DATA_ROOT/train/<class>/*.jpg.')
    print(f'photos: {", ".join(path.name for path in sources)}')
    rng = random.Random(seed)
    photos = [Image.open(path).convert('RGB') for path in sources]
    for index in range(classes):
        folder = root / 'train' / FRUIT30_CLASSES[index % 30]
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            photo = photos[(index * per_class + i) % len(photos)]
            width, height = photo.size
            crop_w = int(width * rng.uniform(0.6, 1.0))
            crop_h = min(height, int(crop_w * 3 / 4))
            left = rng.randint(0, width - crop_w)
            top = rng.randint(0, height - crop_h)
            photo.crop((left, top, left + crop_w, top + crop_h)).resize(
                size, Image.BILINEAR).save(folder / f'{i}.jpg', quality=90)
    return root


def decode_to_memory(root: Path, out: Path, count: int, img_size: int,
                     num_classes: int) -> Path:
    """Decode ``count`` images once, resized to ``img_size``, into a file.

    Args:
        root: Folder with ``train/<class>/*.jpg``.
        out: ``.pt`` file to write (uint8 RGB ``N x H x W x 3`` + labels).
        count: Number of images.
        img_size: Square side.
        num_classes: Labels are drawn modulo this.

    Returns:
        ``out``.
    """
    import torch
    from PIL import Image

    files = sorted((root / 'train').rglob('*.jpg'))[:count]
    if not files:
        raise SystemExit(f'No {root}/train/<class>/*.jpg files: give '
                         '--data-root a folder in that layout, or leave it '
                         'out to cut images from real photos.')
    decoded = [
        np.asarray(Image.open(path).convert('RGB').resize(
            (img_size, img_size), Image.BILINEAR)) for path in files
    ]
    images = np.stack([decoded[i % len(decoded)] for i in range(count)])
    labels = torch.arange(count) % num_classes
    torch.save({'images': torch.from_numpy(images), 'labels': labels}, out)
    return out

