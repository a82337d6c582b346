"""Shrink a dataset's images once, so that every epoch decodes less."""
import os
import os.path as osp
import shutil
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from functools import partial
from typing import List, Optional, Sequence, Tuple

import mmcv
from PIL import Image
from rich.console import Console
from rich.progress import track

from .fruit30 import IMG_EXTENSIONS
from .hidden import HIDDEN_REASON, walk_visible
from .layout_check import extension_reason
from .transforms.decode import BrokenImageError, EncodedImage, jpeg_reduction

SAVE_OPTIONS = {'JPEG': 'quality', 'WEBP': 'quality'}


def shrink_image(src: str, dst: str, max_side: int,
                 quality: int = 90) -> str:
    """Write ``src`` with its longer side at most ``max_side``.

    The EXIF orientation is applied and the picture converted to RGB as
    ``RobustLoadImageFromFile`` sees it; the format follows ``dst``'s
    extension. A file already small enough and upright is copied unchanged.

    Args:
        src: Source image.
        dst: Image to write.
        max_side: Largest side of the result.
        quality: JPEG/WebP quality.

    Returns:
        'copied' or 'shrunk'.

    Raises:
        BrokenImageError: ``src`` cannot be decoded.
    """
    with open(src, 'rb') as file:
        encoded = EncodedImage(file.read(), src)
    width, height = encoded.size
    os.makedirs(osp.dirname(dst) or '.', exist_ok=True)
    if max(width, height) <= max_side and encoded.is_upright:
        shutil.copy2(src, dst)
        return 'copied'
    scale = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = Image.fromarray(mmcv.bgr2rgb(encoded.decode(
        jpeg_reduction((width, height), size) if encoded.is_jpeg else 1)))
    if picture.size != size:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    fmt = Image.registered_extensions().get(osp.splitext(dst)[1].lower())
    options = {SAVE_OPTIONS[fmt]: quality} if fmt in SAVE_OPTIONS else {}
    picture.save(dst, format=fmt, **options)
    return 'shrunk'


def _shrink_one(job: Tuple[str, str], max_side: int,
                quality: int) -> Tuple[str, str]:
    try:
        return job[0], shrink_image(*job, max_side, quality)
    except (BrokenImageError, OSError) as error:
        return job[0], f'failed: {error}'


def shrink_dataset(src: str, out: str, max_side: int, quality: int = 90,
                   workers: Optional[int] = None, force: bool = False,
                   extensions: Sequence[str] = IMG_EXTENSIONS
                   ) -> List[Tuple[str, str]]:
    """Shrink every image under ``src`` into the same layout under ``out``.

    Files without an image extension are not copied; they are listed with
    the outcome 'skipped: unsupported extension .gif' (or 'no extension').

    Args:
        src: Dataset root (any layout).
        out: Output root.
        max_side: Largest side of the results.
        quality: JPEG/WebP quality.
        workers: Processes (all CPUs by default).
        force: Write into a non-empty ``out``.
        extensions: Extensions treated as images.

    Returns:
        ``(source, outcome)`` per file: 'copied', 'shrunk',
        'failed: <reason>' or 'skipped: <reason>'.

    Raises:
        FileNotFoundError: ``src`` is not a folder.
        FileExistsError: ``out`` is not empty and ``force`` is off.
        ValueError: ``out`` is ``src`` or inside it, ``max_side`` is below 1
            or ``quality`` outside 1-100.
    """
    if max_side < 1:
        raise ValueError(f'max_side must be at least 1 px, got {max_side}: '
                         'it is the longest side of the shrunk images, e.g. '
                         '640')
    if not 1 <= quality <= 100:
        raise ValueError(f'quality must be 1-100, got {quality} (90 keeps '
                         'photos sharp)')
    if not osp.isdir(src):
        raise FileNotFoundError(f'{src} is not a folder')
    real_src, real_out = osp.realpath(src), osp.realpath(out)
    if real_out == real_src or real_out.startswith(real_src + os.sep):
        raise ValueError(f'output {out} is inside the source {src}')
    if osp.isdir(out) and os.listdir(out) and not force:
        raise FileExistsError(f'output {out} is not empty; pass --force to '
                              'write into it anyway')
    files, hidden = walk_visible(src)
    images = tuple(e.lower() for e in extensions)
    skipped = [(path, f'skipped: {extension_reason(path)}') for path in files
               if not path.lower().endswith(images)]
    skipped += [(osp.join(src, path), f'skipped: {HIDDEN_REASON}')
                for path in hidden]
    jobs = [(path, osp.join(out, osp.relpath(path, src))) for path in files
            if path.lower().endswith(images)]
    work = partial(_shrink_one, max_side=max_side, quality=quality)
    workers = workers or os.cpu_count() or 1
    with (ProcessPoolExecutor(workers) if workers > 1 else
          nullcontext()) as pool:
        results = pool.map(work, jobs, chunksize=4) if pool else map(
            work, jobs)
        return list(track(results, total=len(jobs),
                          description=f'Shrinking to {max_side} px',
                          console=Console(stderr=True))) + skipped
