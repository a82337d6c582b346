"""Load any decodable image as the picture a person sees."""
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from .decode import EncodedImage, min_side_reduction, read_bytes, to_color_type

COLOR_TYPES = ('color', 'grayscale')


@TRANSFORMS.register_module()
class RobustLoadImageFromFile(BaseTransform):
    """Drop-in for ``LoadImageFromFile`` that never trains on wrong pixels.

    Every decodable image becomes an upright 8-bit picture: the EXIF
    orientation is applied, alpha is composited on ``alpha_background``,
    palette, CMYK, grey and 16-bit images are converted. Paths may hold any
    characters. Pillow's decompression-bomb guard stays on. A file that
    cannot be decoded raises :class:`BrokenImageError` naming it (a
    ``Fruit30(on_broken='skip')`` dataset serves another sample instead).

    Two ways to decode less than the full JPEG when the pipeline's output is
    much smaller than the photo:

    - ``min_size``: decode at 1/2, 1/4 or 1/8 scale while both sides stay at
      least ``min_size`` (e.g. 256 before ``ResizeEdge(256)``).
    - ``lazy=True``: read only the header; a following
      :class:`FastRandomResizedCrop` draws its crop box on the full-size
      image and decodes at the smallest scale that keeps that box at its
      output resolution. Sets ``encoded_img`` instead of ``img``.

    An ``img`` already in the results (mmpretrain's inferencers decode the
    image themselves and drop only ``LoadImageFromFile``) is left as is.

    Required Keys:

    - img_path (or img)

    Modified Keys:

    - img (or encoded_img with ``lazy=True``)
    - img_shape (the decoded size)
    - ori_shape (the full, upright size)

    Args:
        to_float32: Return a float32 array instead of uint8.
        color_type: 'color' (BGR, HxWx3) or 'grayscale' (HxW).
        min_size: Allow reduced JPEG decoding down to this smallest side;
            None decodes full size.
        lazy: Defer decoding to :class:`FastRandomResizedCrop`.
        alpha_background: RGB colour behind transparent pixels.
        backend_args: mmengine file backend arguments.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 min_size: Optional[int] = None,
                 lazy: bool = False,
                 alpha_background: Sequence[int] = (255, 255, 255),
                 *,
                 backend_args: Optional[dict] = None) -> None:
        if color_type not in COLOR_TYPES:
            raise ValueError(f'RobustLoadImageFromFile: color_type must be '
                             f'one of {COLOR_TYPES}, got {color_type!r}')
        if lazy and (to_float32 or color_type != 'color' or min_size):
            raise ValueError(
                'RobustLoadImageFromFile: lazy=True leaves decoding to '
                'FastRandomResizedCrop, which makes BGR uint8 at its own '
                'scale; drop to_float32, color_type and min_size.')
        self.to_float32 = to_float32
        self.color_type = color_type
        self.min_size = min_size
        self.lazy = lazy
        self.alpha_background = tuple(alpha_background)
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        """Load the image named by ``results['img_path']``.

        Args:
            results: Result dict from the dataset.

        Returns:
            The dict with the image (or the encoded image) and its shapes.
        """
        if 'img' in results:
            return results
        path = results['img_path']
        encoded = EncodedImage(
            read_bytes(path, self.backend_args), path, self.alpha_background)
        width, height = encoded.size
        results['ori_shape'] = (height, width)
        if self.lazy:
            results['encoded_img'] = encoded
            results['img_shape'] = (height, width)
            return results
        reduction = (min_side_reduction(encoded, self.min_size)
                     if self.min_size else 1)
        img = to_color_type(encoded.decode(reduction), self.color_type)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', min_size={self.min_size}, "
                f'lazy={self.lazy}, alpha_background={self.alpha_background}, '
                f'backend_args={self.backend_args})')
