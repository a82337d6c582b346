"""Time mmpretrain's default MobileNetV2 data pipelines against fruit30's.

    python tools/benchmark/data_pipeline.py
    python tools/benchmark/data_pipeline.py --write-docs docs/benchmarks.md

Real photo content (opencv-doc's sample photos) upscaled to phone sizes,
2000x1500 and 4000x3000 JPEGs, plus a copy shrunk once by
``tools/dataset/resize.py``. For each, the train and test pipelines of
``mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py`` and of
``configs/mobilenet-v2_fruit.py``: ms per image on one core (in this
process, cv2 and torch limited to one thread) and images/s through a
DataLoader with N workers. Every configuration runs once per repeat, in
rotating order, and the medians are reported, so machine load weighs on all
alike.
"""
import argparse
import os
import os.path as osp
import platform
import re
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import numpy as np
import PIL
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.hub import get_config
from mmpretrain.registry import TRANSFORMS
from PIL import Image, features
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader, Dataset

import fruit_ext  # noqa: F401  (registers the transforms)
from fruit_ext.datasets.shrink import shrink_image
from fruit_ext.utils.cli import add_options, tool_parser

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHOTOS_DIR = '/usr/share/doc/opencv-doc/examples/data'
PHOTOS = ('apple.jpg', 'orange.jpg', 'fruits.jpg', 'baboon.jpg',
          'butterfly.jpg', 'messi5.jpg', 'home.jpg', 'building.jpg')
SIZES = ((2000, 1500), (4000, 3000))
BASELINE = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'
FRUIT30 = osp.join(REPO, 'configs', 'mobilenet-v2_fruit.py')


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument('--photos-dir', default=PHOTOS_DIR,
                        help='folder holding the source photos '
                        '(Debian/Ubuntu package opencv-doc)')
    add_options(parser, '--repeats')
    parser.add_argument('--samples', type=int, default=32,
                        help='images per round and configuration')
    add_options(parser, '--workers', workers=min(4, os.cpu_count() or 1))
    parser.add_argument('--shrink-side', type=int, default=640,
                        help='longest side of the pre-shrunk copy')
    parser.add_argument('--quality', type=int, default=90,
                        help='JPEG quality of the generated photos')
    parser.add_argument('--write-docs', metavar='MD', default=None,
                        help="replace the 'Data pipeline' section of this "
                        'Markdown file with the results')
    return parser.parse_args()


def make_photos(photos_dir: str, out: str, shrink_side: int,
                quality: int) -> Dict[str, List[str]]:
    """Upscale the sample photos to phone sizes, and shrink a copy.

    Args:
        photos_dir: Folder with :data:`PHOTOS`.
        out: Folder to write into.
        shrink_side: Longest side of the shrunk copy.
        quality: JPEG quality.

    Returns:
        {set name: JPEG paths}.

    Raises:
        FileNotFoundError: A source photo is missing.
    """
    missing = [n for n in PHOTOS if not osp.isfile(osp.join(photos_dir, n))]
    if missing:
        raise FileNotFoundError(
            f'{photos_dir} lacks {missing}: install opencv-doc (apt-get '
            'install opencv-doc) or pass --photos-dir with these photos')
    sets: Dict[str, List[str]] = {}
    for width, height in SIZES:
        name = f'{width}x{height}'
        os.makedirs(osp.join(out, name))
        sets[name] = []
        for photo in PHOTOS:
            path = osp.join(out, name, photo)
            Image.open(osp.join(photos_dir, photo)).convert('RGB').resize(
                (width, height), Image.Resampling.BICUBIC).save(
                    path, quality=quality)
            sets[name].append(path)
    shrunk = f'{SIZES[-1][0]}x{SIZES[-1][1]} shrunk to {shrink_side}'
    sets[shrunk] = []
    for path in sets[f'{SIZES[-1][0]}x{SIZES[-1][1]}']:
        target = osp.join(out, 'shrunk', osp.basename(path))
        shrink_image(path, target, shrink_side, quality)
        sets[shrunk].append(target)
    return sets


def pipelines() -> Dict[Tuple[str, str], list]:
    """The four pipeline configs: {(owner, 'train'|'test'): transforms}."""
    configs = {'mmpretrain': get_config(BASELINE),
               'fruit30': Config.fromfile(FRUIT30)}
    return {(owner, split): cfg[f'{loader}_dataloader'].dataset.pipeline
            for owner, cfg in configs.items()
            for split, loader in (('train', 'train'), ('test', 'val'))}


def build(pipeline: list) -> Callable:
    """Build a pipeline config with mmpretrain's registry."""
    return Compose([TRANSFORMS.build(dict(t)) for t in pipeline])


class Photos(Dataset):
    """``samples`` items cycling over ``paths``, through ``pipeline``."""

    def __init__(self, paths: Sequence[str], pipeline: list,
                 samples: int) -> None:
        self.paths, self.samples = list(paths), samples
        self.pipeline = build(pipeline)

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int) -> dict:
        return self.pipeline(
            {'img_path': self.paths[index % len(self.paths)]})


def _one_thread(_: int = 0) -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def time_one_core(transforms: Callable, paths: Sequence[str], samples: int,
                  seed: int) -> float:
    """Milliseconds per image in this process.

    Args:
        transforms: A built pipeline.
        paths: Images, cycled.
        samples: Images to process.
        seed: numpy seed, the same for every pipeline of a round.

    Returns:
        ms per image.
    """
    np.random.seed(seed)
    start = time.perf_counter()
    for index in range(samples):
        transforms({'img_path': paths[index % len(paths)]})
    return (time.perf_counter() - start) * 1000 / samples


def time_loader(loader: DataLoader) -> float:
    """Images per second for one pass over a (warm) DataLoader."""
    start = time.perf_counter()
    count = sum(len(batch['inputs']) for batch in loader)
    return count / (time.perf_counter() - start)


def same_augmentation_gap(paths: Sequence[str], configs: dict) -> float:
    """Mean |difference| of the two train pipelines' outputs, same seeds."""
    baseline = build(configs['mmpretrain', 'train'])
    fast = build(configs['fruit30', 'train'])
    gaps = []
    for seed, path in enumerate(paths):
        outputs = []
        for transforms in (baseline, fast):
            np.random.seed(seed)
            outputs.append(transforms({'img_path': path})['inputs'].float())
        gaps.append((outputs[0] - outputs[1]).abs().mean().item())
    return float(np.mean(gaps))


def machine() -> str:
    """One line describing where the figures come from."""
    cpu = platform.processor() or platform.machine()
    if osp.isfile('/proc/cpuinfo'):
        names = re.findall(r'model name\s*:\s*(.*)',
                           open('/proc/cpuinfo').read())
        cpu = names[0] if names else cpu
    turbo = features.version_feature('libjpeg_turbo')
    return (f'{cpu}, {os.cpu_count()} cores; Python '
            f'{platform.python_version()}, Pillow {PIL.__version__} '
            f'(libjpeg-turbo {turbo}), OpenCV {cv2.__version__}, torch '
            f'{torch.__version__}')


def run(args: argparse.Namespace, photo_sets: Dict[str, List[str]]
        ) -> Tuple[List[dict], float, List[float]]:
    """Time every (photo set, pipeline) configuration.

    Returns:
        (rows, mean |difference| of the train outputs at 2000x1500, the
        1-minute load average after each round).
    """
    configs = pipelines()
    built = {key: build(pipeline) for key, pipeline in configs.items()}
    cases = [(name, key) for name in photo_sets for key in configs]
    loaders = {(name, key): DataLoader(
        Photos(photo_sets[name], configs[key], args.samples),
        batch_size=32, num_workers=args.workers, collate_fn=pseudo_collate,
        persistent_workers=args.workers > 0, worker_init_fn=_one_thread)
        for name, key in cases}
    for case in cases:  # warm up: decoders, caches, worker start
        time_one_core(built[case[1]], photo_sets[case[0]], 2, 0)
        time_loader(loaders[case])
    one_core: Dict[tuple, List[float]] = {case: [] for case in cases}
    per_second: Dict[tuple, List[float]] = {case: [] for case in cases}
    loads = []
    for round_ in range(args.repeats):
        shift = round_ % len(cases)
        for case in cases[shift:] + cases[:shift]:
            one_core[case].append(time_one_core(
                built[case[1]], photo_sets[case[0]], args.samples, round_))
            per_second[case].append(time_loader(loaders[case]))
        loads.append(os.getloadavg()[0])
        Console(stderr=True).print(f'round {round_ + 1}/{args.repeats} done')
    rows = [dict(photos=name, owner=key[0], split=key[1],
                 ms=statistics.median(one_core[name, key]),
                 per_second=statistics.median(per_second[name, key]))
            for name, key in cases]
    first = f'{SIZES[0][0]}x{SIZES[0][1]}'
    return rows, same_augmentation_gap(photo_sets[first], configs), loads


def speedups(rows: List[dict]) -> Dict[Tuple[str, str], float]:
    """mmpretrain ms / fruit30 ms per (photo set, split)."""
    ms = {(r['photos'], r['split'], r['owner']): r['ms'] for r in rows}
    return {(photos, split): ms[photos, split, 'mmpretrain'] /
            ms[photos, split, 'fruit30']
            for photos, split, owner in ms if owner == 'fruit30'}


def markdown(rows: List[dict], gap: float, loads: List[float],
             args: argparse.Namespace,
             photo_sets: Dict[str, List[str]]) -> str:
    """The results as the body of the docs section."""
    ratio = speedups(rows)
    sizes = {name: np.mean([osp.getsize(p) for p in paths]) / 1e3
             for name, paths in photo_sets.items()}
    lines = [
        f'`python tools/benchmark/data_pipeline.py --workers {args.workers}'
        f'` on {machine()}. {len(PHOTOS)} opencv-doc photos '
        f'({", ".join(PHOTOS)}) upscaled to each size, JPEG quality '
        f'{args.quality}; medians of {args.repeats} rounds of '
        f'{args.samples} images, all configurations interleaved in one run '
        f'(1-minute load average {min(loads):.1f} to {max(loads):.1f} '
        'during the rounds: the machine was shared, which slows every '
        'configuration alike).',
        '',
        '"mmpretrain" is the default MobileNetV2 pipeline '
        '(`LoadImageFromFile` + `RandomResizedCrop(224, backend=\'pillow\')`'
        ' + `RandomFlip` + `PackInputs`; test: `ResizeEdge(256)` + '
        '`CenterCrop(224)`); "fruit30" is `configs/mobilenet-v2_fruit.py` '
        '(`RobustLoadImageFromFile(lazy=True)` + `FastRandomResizedCrop`; '
        'test: `RobustLoadImageFromFile(min_size=256)`), same augmentation.',
        '',
        '| photos | mean file | pipeline | mmpretrain ms/img (1 core) | '
        'fruit30 ms/img (1 core) | speed-up | mmpretrain img/s '
        f'({args.workers} workers) | fruit30 img/s ({args.workers} workers)'
        ' |',
        '|---|---|---|---|---|---|---|---|',
    ]
    by_key = {(r['photos'], r['split'], r['owner']): r for r in rows}
    for photos in photo_sets:
        for split in ('train', 'test'):
            base = by_key[photos, split, 'mmpretrain']
            fast = by_key[photos, split, 'fruit30']
            lines.append(
                f'| {photos} | {sizes[photos]:.0f} kB | {split} | '
                f'{base["ms"]:.1f} | {fast["ms"]:.1f} | '
                f'**{ratio[photos, split]:.1f}x** | '
                f'{base["per_second"]:.0f} | {fast["per_second"]:.0f} |')
    small = by_key[list(photo_sets)[-1], 'train', 'fruit30']['ms']
    lines += [
        '',
        f'Shrinking once with `tools/dataset/resize.py` pays off for many '
        f'epochs: the fruit30 train pipeline then needs {small:.1f} ms/img '
        'instead of '
        f'{by_key[list(photo_sets)[0], "train", "fruit30"]["ms"]:.1f} '
        f'({list(photo_sets)[0]}); on small images both pipelines decode '
        'in full and cost the same.',
        '',
        f'Same seeds, same crop boxes: the two train pipelines\' 224 px '
        f'outputs differ by {gap:.2f} grey levels on average (resampling '
        'from a DCT-reduced decode instead of the full one).',
    ]
    return '\n'.join(lines) + '\n'


def write_section(path: str, title: str, body: str) -> None:
    """Replace the body of a ``## title`` section of a Markdown file.

    Args:
        path: Markdown file.
        title: Section heading text.
        body: New section body.

    Raises:
        ValueError: The section does not exist.
    """
    with open(path, encoding='utf-8') as file:
        text = file.read()
    pattern = re.compile(rf'(^## {re.escape(title)}\n\n)(.*?)(?=^## |\Z)',
                         re.S | re.M)
    if not pattern.search(text):
        raise ValueError(f'{path} has no "## {title}" section')
    text = pattern.sub(lambda m: m.group(1) + body + '\n', text, count=1)
    with open(path, 'w', encoding='utf-8') as file:
        file.write(text)


def main() -> int:
    """Run the benchmark.

    Returns:
        The exit status.
    """
    args = parse_args()
    _one_thread()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            photo_sets = make_photos(args.photos_dir, tmp, args.shrink_side,
                                     args.quality)
        except FileNotFoundError as error:
            console.print(f'[red]error:[/red] {error}')
            return 1
        rows, gap, loads = run(args, photo_sets)
        body = markdown(rows, gap, loads, args, photo_sets)
    table = Table(title=f'Data pipeline, {machine()}')
    for column in ('photos', 'pipeline', 'ms/img 1 core',
                   f'img/s {args.workers} workers'):
        table.add_column(column)
    for row in rows:
        table.add_row(row['photos'], f'{row["owner"]} {row["split"]}',
                      f'{row["ms"]:.1f}', f'{row["per_second"]:.0f}')
    console.print(table)
    for (photos, split), ratio in speedups(rows).items():
        console.print(f'{photos} {split}: fruit30 {ratio:.1f}x faster per '
                      'image on one core')
    console.print(f'train outputs, same seeds: mean |difference| {gap:.2f}')
    if args.write_docs:
        write_section(args.write_docs, 'Data pipeline', body)
        console.print(f'Wrote the "Data pipeline" section of '
                      f'{args.write_docs}.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
