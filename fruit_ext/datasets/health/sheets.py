"""Picture grids: near-duplicate contact sheets and label-issue suspects.

Images are decoded with the loader's core (:func:`load_rgb`); captions use
a CJK font when one is installed, the English aliases otherwise.
"""
import os
import re
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ...apis.image_core import BrokenImageError, load_rgb


def _thumb(path: str, size: int) -> np.ndarray:
    from PIL import Image
    try:
        rgb = load_rgb(path, min_size=size)
    except BrokenImageError:
        return np.full((size, size, 3), 200, np.uint8)
    image = Image.fromarray(rgb)
    image.thumbnail((size, size))
    canvas = Image.new('RGB', (size, size), (255, 255, 255))
    canvas.paste(image, ((size - image.width) // 2,
                         (size - image.height) // 2))
    return np.asarray(canvas)


def _captions(texts: Sequence[str]) -> Tuple[List[str], Optional[object]]:
    """Captions to draw and the font: Chinese kept with a CJK font."""
    from ...visualization.fonts import find_cjk_font, needs_cjk
    from ..categories import alias_for
    from matplotlib import font_manager
    if not any(needs_cjk(t) for t in texts):
        return list(texts), None
    font = find_cjk_font()
    if font is not None:
        return list(texts), font_manager.FontProperties(fname=font)
    # no CJK font: every run of non-Latin characters becomes its alias
    return [re.sub(r'[^\x00-\u024f]+', lambda m: alias_for(m.group()), t)
            for t in texts], None


def image_grid(paths: Sequence[str], captions: Sequence[str], out: str,
               title: str = '', columns: int = 6, size: int = 160) -> str:
    """Save a grid of images with a caption under each.

    Args:
        paths: Image files.
        captions: One caption per image (may hold Chinese).
        out: PNG file to write.
        title: Figure title.
        columns: Images per row.
        size: Thumbnail side in pixels.

    Returns:
        ``out``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    texts, font = _captions(list(captions) + [title])
    title, texts = texts[-1], texts[:-1]
    columns = max(1, min(columns, len(paths)))
    rows = max(1, -(-len(paths) // columns))
    figure, axes = plt.subplots(rows, columns, squeeze=False,
                                figsize=(2.2 * columns, 2.5 * rows + 0.4))
    for axis in axes.ravel():
        axis.axis('off')
    for axis, path, text in zip(axes.ravel(), paths, texts):
        axis.imshow(_thumb(path, size))
        axis.set_title(text, fontsize=7, fontproperties=font)
    if title:
        figure.suptitle(title, fontproperties=font)
    figure.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out


def contact_sheets(report, out_dir: str, max_groups: int = 20,
                   max_images: int = 12) -> List[str]:
    """One PNG per near-duplicate group (the first ``max_groups``).

    Args:
        report: A :class:`~fruit_ext.datasets.duplicates.DuplicateReport`.
        out_dir: Folder for ``group_NNN.png``.
        max_groups: Groups drawn.
        max_images: Images drawn per group.

    Returns:
        The PNG paths.
    """
    written = []
    for number, group in enumerate(report.groups[:max_groups]):
        members = [report.items[i] for i in group[:max_images]]
        flags = []
        if len(report.splits_of(group)) > 1:
            flags.append('spans splits')
        if len(report.labels_of(group)) > 1:
            flags.append('labels differ')
        written.append(image_grid(
            [osp.join(report.root, m.path) for m in members],
            [f'{m.split + "/" if m.split else ""}{m.label} '
             f'{osp.basename(m.path)}' for m in members],
            osp.join(out_dir, f'group_{number:03d}.png'),
            f'group {number}: {len(group)} images' +
            (f' ({", ".join(flags)})' if flags else ''), columns=4))
    return written
