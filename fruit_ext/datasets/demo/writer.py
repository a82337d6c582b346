"""The writer: a demo set on disk (jobs, files, metadata, up-to-date check).

Output layout::

    OUT/train/<class>/*.jpg|*.png
    OUT/val/<class>/*.jpg|*.png
    OUT/demo_meta.json

Each image's random generator is seeded from ``(seed, split, class index,
image index)``, so the same parameters give byte-identical files whatever
the number of workers (with the same numpy, Pillow and libjpeg versions).
"""
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from mmengine.utils import track_progress_rich

from ..categories import FRUIT30_ALIASES, FRUIT30_CLASSES
from .renderer import render_image

#: Bump when the drawing code changes, so old output is no longer
#: considered up to date.
GENERATOR_VERSION = 1
META_NAME = 'demo_meta.json'
SPLITS: Tuple[str, ...] = ('train', 'val')
JPEG_QUALITY = 90
IMAGE_SUFFIXES = ('.jpg', '.png')


class Job(NamedTuple):
    """One image to generate."""

    out: str
    split_id: int
    cls: int
    index: int
    seed: int
    min_size: int
    max_size: int
    png_ratio: float


def _file_stem(cls: int, index: int) -> str:
    """File name (without suffix) of an image."""
    return f'{FRUIT30_ALIASES[cls].replace(" ", "_")}_{index:04d}'


def make_one(job: Job) -> Tuple[str, int]:
    """Generate and save one image (runs in a worker process).

    Args:
        job: What to generate.

    Returns:
        The file's path relative to the output root, and its size in bytes.
    """
    rng = np.random.default_rng([job.seed, job.split_id, job.cls, job.index])
    as_png = rng.random() < job.png_ratio
    width = int(rng.integers(job.min_size, job.max_size + 1))
    height = int(rng.integers(job.min_size, job.max_size + 1))
    if rng.random() < 0.3:
        height = width
    img = render_image(job.cls, (width, height), rng)
    rel = Path(SPLITS[job.split_id], FRUIT30_CLASSES[job.cls],
               _file_stem(job.cls, job.index) + ('.png' if as_png else '.jpg'))
    path = Path(job.out) / rel
    if as_png:
        img.save(path, 'PNG', compress_level=6)
    else:
        img.save(path, 'JPEG', quality=JPEG_QUALITY, subsampling='4:2:0',
                 optimize=False, progressive=False)
    return str(rel), path.stat().st_size


class DemoSpec(NamedTuple):
    """The parameters that determine a demo set's images.

    Args:
        seed: Random seed.
        train_per_class: Training images per class.
        val_per_class: Validation images per class.
        min_size: Smallest image side.
        max_size: Largest image side.
        png_ratio: Fraction of images saved as PNG.
    """

    seed: int = 0
    train_per_class: int = 24
    val_per_class: int = 8
    min_size: int = 72
    max_size: int = 160
    png_ratio: float = 0.1


def _params(spec: DemoSpec) -> Dict[str, object]:
    """The parameters recorded in the metadata file (workers excluded)."""
    return {
        'generator_version': GENERATOR_VERSION,
        'seed': spec.seed,
        'train_per_class': spec.train_per_class,
        'val_per_class': spec.val_per_class,
        'min_size': spec.min_size,
        'max_size': spec.max_size,
        'png_ratio': spec.png_ratio,
        'jpeg_quality': JPEG_QUALITY,
        'classes': list(FRUIT30_CLASSES),
    }


def _count_files(out: Path) -> int:
    """Number of images under ``OUT/<split>/<class>/``."""
    total = 0
    for split in SPLITS:
        for name in FRUIT30_CLASSES:
            folder = out / split / name
            if folder.is_dir():
                total += sum(1 for p in folder.iterdir()
                             if p.suffix in IMAGE_SUFFIXES)
    return total


def _read_meta(out: Path) -> Optional[dict]:
    """The metadata file's content, or None if missing or unreadable."""
    try:
        return json.loads((out / META_NAME).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def _write_meta(out: Path, params: Dict[str, object], complete: bool,
                counts: Dict[str, int]) -> None:
    """Write ``OUT/demo_meta.json``."""
    meta = {
        'generator': 'tools/dataset/make_demo_fruit30.py',
        'params': params,
        'complete': complete,
        'num_files': sum(counts.values()),
        'counts': counts,
    }
    (out / META_NAME).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + '\n',
        encoding='utf-8')


def check_out(out: Path, params: Dict[str, object]) -> str:
    """Classify the output folder.

    Args:
        out: Output folder.
        params: The wanted parameters.

    Returns:
        ``'empty'`` (missing or empty), ``'up_to_date'`` (complete set with
        these parameters), ``'partial'`` (our own unfinished or damaged set
        with these parameters) or ``'conflict'`` (anything else).
    """
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return 'empty'
    meta = _read_meta(out)
    if meta is None or meta.get('params') != params:
        return 'conflict'
    if meta.get('complete') and _count_files(out) == meta.get('num_files'):
        return 'up_to_date'
    return 'partial'


def _clean(out: Path) -> None:
    """Remove what this tool writes (splits and metadata), nothing else."""
    for split in SPLITS:
        if (out / split).is_dir():
            shutil.rmtree(out / split)
    (out / META_NAME).unlink(missing_ok=True)


def _write_images(out: Path, spec: DemoSpec,
                  workers: int) -> List[Tuple[str, int]]:
    """Create the class folders and write every image, with progress.

    Args:
        out: Output folder.
        spec: What to generate.
        workers: Worker processes (1: generate in this process), at most
            one per image.

    Returns:
        For each image, its path relative to ``out`` and its size in bytes.
    """
    per_split = (spec.train_per_class, spec.val_per_class)
    jobs = [(Job(str(out), split_id, cls, index, spec.seed, spec.min_size,
                 spec.max_size, spec.png_ratio), )
            for split_id in range(len(SPLITS))
            for cls in range(len(FRUIT30_CLASSES))
            for index in range(per_split[split_id])]
    return track_progress_rich(
        make_one, jobs, task_num=len(jobs), nproc=workers,
        chunksize=max(1, min(16, len(jobs) // (workers * 8))),
        description='[bold]fruit30 demo')


def generate(out: Path, spec: DemoSpec, workers: int = 1,
             force: bool = False) -> int:
    """Write a demo set into ``out`` unless it is already there.

    A folder holding this tool's complete output for ``spec`` is left as it
    is; a folder with other content is refused unless ``force`` is set, and
    then only ``OUT/train``, ``OUT/val`` and the metadata file are replaced.

    Args:
        out: Output folder.
        spec: What to generate.
        workers: Worker processes.
        force: Regenerate even if ``out`` is up to date or holds other
            content.

    Returns:
        Exit status: 0 on success, 1 when ``out`` cannot be used.
    """
    params = _params(spec)
    state = check_out(out, params)
    if state == 'up_to_date' and not force:
        print(f'{out} is up to date ({_count_files(out)} images, seed '
              f'{spec.seed}); nothing to do (use --force to regenerate).')
        return 0
    if state == 'conflict' and not force:
        print(f'error: {out} already exists and was not made by this tool '
              f'with these parameters (no matching {META_NAME}). Use '
              '--force to replace its train/ and val/ folders, or pick '
              'another --out.', file=sys.stderr)
        return 1
    if out.exists() and not out.is_dir():
        print(f'error: {out} is not a folder', file=sys.stderr)
        return 1
    if force:
        _clean(out)
    start = time.perf_counter()
    for split in SPLITS:
        for name in FRUIT30_CLASSES:
            (out / split / name).mkdir(parents=True, exist_ok=True)
    _write_meta(out, params, False, {})
    per_split = (spec.train_per_class, spec.val_per_class)
    counts = {split: per_split[i] * len(FRUIT30_CLASSES)
              for i, split in enumerate(SPLITS)}
    workers = max(1, min(workers, sum(counts.values())))
    results = _write_images(out, spec, workers)
    _write_meta(out, params, True, counts)
    n_png = sum(1 for rel, _ in results if rel.endswith('.png'))
    n_bytes = sum(size for _, size in results)
    print(f'Wrote {len(results)} images ({counts["train"]} train, '
          f'{counts["val"]} val; {len(FRUIT30_CLASSES)} classes; {n_png} png, '
          f'{len(results) - n_png} jpg; {n_bytes / 1e6:.1f} MB) to '
          f'{out.resolve()} in {time.perf_counter() - start:.1f} s with '
          f'{workers} worker(s).')
    return 0
