#!/usr/bin/env python
"""Export Fashion-MNIST to the folder layout, as a small real-photo benchmark.

Reads the IDX files of the Debian package ``dataset-fashion-mnist``
(``apt-get install dataset-fashion-mnist``) and writes::

    OUT/train/<NN_class>/<index>.png   drawn from the 60,000-image train file
    OUT/val/<NN_class>/<index>.png     drawn from the same file, disjoint
    OUT/test/<NN_class>/<index>.png    only with --test-per-class (the
                                       10,000-image test file; never tune
                                       on it)

``<index>`` is the image's index in its source file. Folder names sort in
Fashion-MNIST label order, so ``classes='folders'`` keeps the labels.
``--imbalance R`` makes the training split long-tailed: class ``c`` keeps
``N * R ** (-c / (C - 1))`` images (N for the first class, N / R for the
last); val and test stay balanced.

Example::

    python tools/dataset/export_fashion_mnist.py data/fmnist \\
        --train-per-class 100 --val-per-class 50 --seed 0
"""
import argparse
import os
import os.path as osp
import shutil
import warnings
from typing import Dict, List, Tuple

import numpy as np
from mmpretrain.datasets.mnist import get_int, read_sn3_pascalvincent_tensor
from mmpretrain.datasets.utils import open_maybe_compressed_file
from PIL import Image
from rich.progress import track

from fruit_ext.utils.cli import add_options, tool_parser

CLASSES = ('T-shirt_top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
           'Shirt', 'Sneaker', 'Bag', 'Ankle_boot')
FOLDERS = tuple(f'{index:02d}_{name}' for index, name in enumerate(CLASSES))
DEFAULT_SOURCE = '/usr/share/datasets/fashion-mnist'
FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}


def read_idx(path: str, magic: int) -> np.ndarray:
    """Read a gzipped IDX file with mmpretrain's MNIST readers.

    Args:
        path: The ``*.gz`` file.
        magic: Expected magic number (uint8 images: 2051, labels: 2049).

    Returns:
        uint8 array, (N, rows, cols) for images or (N,) for labels.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} does not exist: install the Debian package '
            'dataset-fashion-mnist or pass --source.')
    try:
        with open_maybe_compressed_file(path) as file:
            found = get_int(file.read(4))
        if found != magic:
            raise ValueError(f'{path}: IDX magic number {found}, expected '
                             f'{magic}; not a Fashion-MNIST file.')
        with warnings.catch_warnings():
            # The reader wraps a read-only buffer; we only read it.
            warnings.filterwarnings(
                'ignore', message='The given NumPy array is not writable')
            return read_sn3_pascalvincent_tensor(path).numpy()
    except (OSError, EOFError) as error:
        raise ValueError(f'{path}: not a readable gzip file ({error})') \
            from error
    except AssertionError as error:
        raise ValueError(f'{path}: the header does not match the size; the '
                         'file is truncated.') from error


def load_split(source: str, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Images and labels of the 'train' or 'test' file.

    Args:
        source: Folder with the IDX files.
        split: 'train' or 'test'.

    Returns:
        (images (N, 28, 28), labels (N,)).
    """
    images_file, labels_file = FILES[split]
    images = read_idx(osp.join(source, images_file), 2051)
    labels = read_idx(osp.join(source, labels_file), 2049)
    if len(images) != len(labels):
        raise ValueError(f'{source}: {len(images)} images but {len(labels)} '
                         f'labels in the {split} files.')
    return images, labels


def train_counts(per_class: int, imbalance: float,
                 num_classes: int = len(CLASSES)) -> List[int]:
    """Training images per class: constant, or long-tailed with ratio R.

    Args:
        per_class: Images of the largest class.
        imbalance: Largest / smallest class size (1 for balanced).
        num_classes: C.

    Returns:
        C counts.
    """
    return [max(1, round(per_class * imbalance**(-c / (num_classes - 1))))
            for c in range(num_classes)]


def select(labels: np.ndarray, counts: Dict[str, List[int]],
           seed: int) -> Dict[str, np.ndarray]:
    """Disjoint random indices per split, ``counts[split][c]`` of class c.

    Args:
        labels: Labels of the source file.
        counts: Split name to per-class counts, taken in this order.
        seed: Random seed.

    Returns:
        Split name to sorted indices.
    """
    rng = np.random.default_rng(seed)
    chosen: Dict[str, List[int]] = {split: [] for split in counts}
    for label in range(len(CLASSES)):
        pool = rng.permutation(np.flatnonzero(labels == label))
        start = 0
        for split, per_class in counts.items():
            wanted = per_class[label]
            if start + wanted > len(pool):
                raise ValueError(
                    f'class {CLASSES[label]} has {len(pool)} images, fewer '
                    f'than the {start + wanted} asked for.')
            chosen[split] += pool[start:start + wanted].tolist()
            start += wanted
    return {split: np.sort(index) for split, index in chosen.items()}


def write_split(out: str, split: str, images: np.ndarray,
                labels: np.ndarray, indices: np.ndarray) -> None:
    """Write ``out/split/<NN_class>/<index>.png``.

    Args:
        out: Dataset root.
        split: Split folder name.
        images: Source images.
        labels: Source labels.
        indices: Indices to write.
    """
    for folder in FOLDERS:
        os.makedirs(osp.join(out, split, folder), exist_ok=True)
    for index in track(indices, description=f'{split:5s}'):
        folder = FOLDERS[labels[index]]
        Image.fromarray(images[index]).save(
            osp.join(out, split, folder, f'{index:05d}.png'))


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument('out', help='dataset root to write')
    add_options(parser, '--source', '--train-per-class', '--val-per-class',
                '--test-per-class', source=DEFAULT_SOURCE)
    parser.add_argument('--imbalance', type=float, default=1.0,
                        help='largest / smallest training class (e.g. 10)')
    add_options(parser, '--seed', '--overwrite')
    return parser.parse_args()


def main() -> None:
    """Export the requested splits."""
    args = parse_args()
    if args.imbalance < 1:
        raise SystemExit(f'--imbalance {args.imbalance}: must be >= 1.')
    splits = ('train', 'val', 'test')
    existing = [s for s in splits if osp.isdir(osp.join(args.out, s))]
    if existing and not args.overwrite:
        raise SystemExit(f'{args.out} already holds {existing}; pass '
                         '--overwrite to replace them.')
    images, labels = load_split(args.source, 'train')
    counts = {
        'val': [args.val_per_class] * len(CLASSES),
        'train': train_counts(args.train_per_class, args.imbalance),
    }
    chosen = select(labels, counts, args.seed)
    for split in existing:
        shutil.rmtree(osp.join(args.out, split))
    for split in ('train', 'val'):
        write_split(args.out, split, images, labels, chosen[split])
    if args.test_per_class:
        test_images, test_labels = load_split(args.source, 'test')
        test = select(test_labels,
                      {'test': [args.test_per_class] * len(CLASSES)},
                      args.seed)['test']
        write_split(args.out, 'test', test_images, test_labels, test)
    print(f'train per class: {counts["train"]}; val per class: '
          f'{args.val_per_class}; test per class: {args.test_per_class}; '
          f'written to {args.out}')


if __name__ == '__main__':
    main()
