"""Draw an image with its top-k prediction written on it."""
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from ..visualization import agg_figure, display_labels
from .batch_inference import Prediction


def draw_prediction(image_rgb: np.ndarray,
                    prediction: Prediction,
                    classes: Sequence[str],
                    aliases: Optional[Sequence[str]],
                    out_file: str,
                    short_edge: int = 384) -> None:
    """Save the image with its top-k classes and scores in a corner box.

    Chinese class names are drawn with a CJK font when one is installed,
    English aliases otherwise (:func:`fruit_ext.visualization.display_labels`).

    Args:
        image_rgb: (H, W, 3) uint8 RGB image.
        prediction: Its prediction.
        classes: Class names by label.
        aliases: English aliases by label, or None.
        out_file: PNG/JPEG file to write.
        short_edge: Short edge of the picture, so the text stays legible.
    """
    labels, font = display_labels(classes, aliases)
    image = Image.fromarray(image_rgb)
    scale = short_edge / min(image.size)
    image = image.resize((max(1, round(image.width * scale)),
                          max(1, round(image.height * scale))),
                         Image.Resampling.BILINEAR)
    lines = [f'{labels[label]}  {score:.1%}'
             for label, _, score in prediction.topk]
    if prediction.unknown:
        lines.insert(0, f'unknown (best < {prediction.threshold:.0%})')
    dpi = 100
    figure = agg_figure(figsize=(image.width / dpi, image.height / dpi),
                        dpi=dpi)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(np.asarray(image))
    axes.axis('off')
    axes.text(0.02, 0.98, '\n'.join(lines), transform=axes.transAxes,
              va='top', ha='left', fontsize=13, color='white',
              fontproperties=font,
              bbox=dict(facecolor='black', alpha=0.6, edgecolor='none'))
    figure.savefig(out_file, dpi=dpi)
