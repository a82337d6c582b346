"""Random resized crop that decodes only as much of a JPEG as it needs."""
import math

import mmcv
import numpy as np
from mmcv.image.geometric import pillow_interp_codes
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from PIL import Image

from .decode import jpeg_reduction


@TRANSFORMS.register_module()
class FastRandomResizedCrop(RandomResizedCrop):
    """``RandomResizedCrop`` that decodes JPEGs at reduced scale.

    After ``RobustLoadImageFromFile(lazy=True)`` the crop box is drawn exactly
    as ``RandomResizedCrop`` draws it, on the full-size upright image. The
    JPEG is then decoded at the largest DCT reduction (1/2, 1/4, 1/8) that
    keeps the box at least the output size, the box is mapped to that
    scale, and the crop is resized to the output. The augmentation is
    unchanged; a 2000x1500 photo decodes at 1/2 or 1/4 scale for a 224 px
    crop. Other formats, or an ``img`` already decoded, are cropped like
    ``RandomResizedCrop`` does.

    Required Keys:

    - img or encoded_img

    Modified Keys:

    - img
    - img_shape

    Args:
        **kwargs: The arguments of
            :class:`mmpretrain.datasets.transforms.RandomResizedCrop`.
    """

    def transform(self, results: dict) -> dict:
        """Crop and resize, decoding the image if it is still encoded.

        Args:
            results: Result dict from the loading pipeline.

        Returns:
            The dict with the cropped ``img``.
        """
        encoded = results.pop('encoded_img', None)
        if encoded is None:
            return super().transform(results)
        if not encoded.is_jpeg:
            results['img'] = encoded.decode()
            return super().transform(results)
        width, height = encoded.size
        top, left, box_h, box_w = self.rand_crop_params(
            np.empty((height, width, 0), np.uint8))
        out_h, out_w = self.scale
        reduction = jpeg_reduction((box_w, box_h), (out_w, out_h))
        stored = encoded.decode_stored(reduction)
        # Crop and resize in stored orientation, where full-size pixel x is
        # exactly x / reduction (libjpeg pads the last block), then turn the
        # small result upright.
        x0, y0, x1, y1 = (value / reduction for value in encoded.stored_box(
            (left, top, left + box_w, top + box_h)))
        size = (out_h, out_w) if encoded.swaps_axes else (out_w, out_h)
        if self.backend == 'pillow':
            region = stored[int(y0):math.ceil(y1), int(x0):math.ceil(x1)]
            small = np.array(Image.fromarray(region).resize(
                size, pillow_interp_codes[self.interpolation],
                box=(x0 - int(x0), y0 - int(y0), x1 - int(x0),
                     y1 - int(y0))))
        else:
            region = stored[round(y0):round(y1), round(x0):round(x1)]
            small = mmcv.imresize(region, size,
                                  interpolation=self.interpolation,
                                  backend=self.backend)
        img = encoded.upright(small)
        results['img'] = img
        results['img_shape'] = img.shape
        return results
