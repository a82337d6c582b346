"""Random resized crop that decodes only as much of a JPEG as it needs."""
import mmcv
import numpy as np
from mmcv.image.geometric import pillow_interp_codes
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS

from .decode import jpeg_reduction, to_array


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
            results['img'] = to_array(encoded.decode())
            return super().transform(results)
        width, height = encoded.size
        top, left, box_h, box_w = self.rand_crop_params(
            np.empty((height, width, 0), np.uint8))
        out_h, out_w = self.scale
        picture = encoded.decode(
            jpeg_reduction((box_w, box_h), (out_w, out_h)))
        scale_x, scale_y = picture.width / width, picture.height / height
        box = (left * scale_x, top * scale_y, (left + box_w) * scale_x,
               (top + box_h) * scale_y)
        if self.backend == 'pillow':
            img = to_array(picture.resize(
                (out_w, out_h), pillow_interp_codes[self.interpolation],
                box=box))
        else:
            crop = to_array(picture.crop(tuple(round(v) for v in box)))
            img = mmcv.imresize(crop, (out_w, out_h),
                                interpolation=self.interpolation,
                                backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape
        return results
