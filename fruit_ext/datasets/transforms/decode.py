"""Decode image bytes into the picture a person sees, at reduced scale when
that is enough.

Pillow does the work: it applies the EXIF orientation, composites alpha,
converts palette, CMYK and 16-bit images, keeps its decompression-bomb guard
on, and decodes JPEGs at 1/2, 1/4 or 1/8 scale through libjpeg's DCT scaling
(``Image.draft``).
"""
import io
from typing import Optional, Tuple

import mmcv
import numpy as np
from mmengine import fileio
from PIL import Image, UnidentifiedImageError

#: EXIF orientation tag and the transposition that shows the image upright.
ORIENTATION_TAG = 0x0112
ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: JPEG DCT scaling factors libjpeg offers, largest first.
JPEG_REDUCTIONS = (8, 4, 2)
HIGH_DEPTH_MODES = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F')
ALPHA_MODES = ('RGBA', 'RGBa', 'LA', 'La', 'PA')

Size = Tuple[int, int]


class BrokenImageError(Exception):
    """An image file that cannot be read or decoded.

    Args:
        path: The file.
        reason: What is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f'{path}: {reason}')
        self.path = path
        self.reason = reason

    def __reduce__(self):
        return type(self), (self.path, self.reason)


def read_bytes(path: str, backend_args: Optional[dict] = None) -> bytes:
    """Read a file through mmengine's file backends.

    Args:
        path: Local path or URI.
        backend_args: mmengine file backend arguments.

    Returns:
        The file content.

    Raises:
        BrokenImageError: The file is missing or unreadable.
    """
    try:
        return fileio.get(path, backend_args=backend_args)
    except OSError as error:
        raise BrokenImageError(
            path, f'cannot read the file ({error.strerror or error})'
        ) from error


def jpeg_reduction(region: Size, needed: Size) -> int:
    """The largest DCT reduction keeping a region at least a given size.

    Args:
        region: (width, height) of the region to keep, in full-size pixels.
        needed: (width, height) it must still have once decoded.

    Returns:
        8, 4, 2 or 1.
    """
    for factor in JPEG_REDUCTIONS:
        if (region[0] // factor >= needed[0]
                and region[1] // factor >= needed[1]):
            return factor
    return 1


def to_rgb(image: Image.Image,
           background: Tuple[int, int, int] = (255, 255, 255)
           ) -> Image.Image:
    """Convert any Pillow image to 8-bit RGB without losing what it shows.

    Alpha (also a palette or grey image's transparent colour) is composited
    on ``background``; 16-bit and 32-bit greys are scaled, not clipped, to
    8 bits; CMYK, palette, grey and other modes go through Pillow.

    Args:
        image: A loaded Pillow image.
        background: RGB colour behind transparent pixels.

    Returns:
        An ``RGB`` image.
    """
    mode = image.mode
    if mode == 'RGB' and 'transparency' not in image.info:
        return image
    if mode in HIGH_DEPTH_MODES:
        values = np.asarray(image)
        if mode == 'F':
            scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0
            grey = (values * scale).clip(0, 255)
        else:  # 16-bit range, also for 32-bit 'I' which Pillow uses for it
            grey = values.astype(np.int64).clip(0, 65535) / 257.0
        return Image.fromarray(grey.round().astype(np.uint8)).convert('RGB')
    if mode in ALPHA_MODES or 'transparency' in image.info:
        rgba = image.convert('RGBA')
        canvas = Image.new('RGB', rgba.size, tuple(background))
        canvas.paste(rgba, mask=rgba.getchannel('A'))
        return canvas
    return image.convert('RGB')


class EncodedImage:
    """Image bytes whose header is read but whose pixels are not decoded.

    Sizes are those of the image as displayed, i.e. after its EXIF
    orientation.

    Args:
        data: The file content.
        path: Where it came from, for error messages.
        background: RGB colour behind transparent pixels.

    Raises:
        BrokenImageError: Empty file, not an image, or refused by Pillow's
            decompression-bomb guard.
    """

    def __init__(self, data: bytes, path: str,
                 background: Tuple[int, int, int] = (255, 255, 255)) -> None:
        self.path = path
        self.background = background
        if not data:
            raise BrokenImageError(path, 'empty file (0 bytes)')
        try:
            self._image = Image.open(io.BytesIO(data))
            self.orientation = self._image.getexif().get(ORIENTATION_TAG, 1)
        except Image.DecompressionBombError as error:
            raise BrokenImageError(
                path, f"refused by Pillow's decompression-bomb guard: {error}"
            ) from error
        except UnidentifiedImageError as error:
            raise BrokenImageError(
                path, 'not an image file Pillow can identify (wrong content '
                'or corrupt header)') from error
        except Exception as error:  # corrupt headers raise many kinds
            raise BrokenImageError(
                path, f'corrupt image header ({type(error).__name__}: '
                f'{error})') from error
        width, height = self._image.size
        self.size: Size = ((height, width) if self.orientation in (5, 6, 7, 8)
                           else (width, height))

    @property
    def is_jpeg(self) -> bool:
        """Whether libjpeg can decode it at reduced scale."""
        return self._image.format == 'JPEG'

    def decode(self, reduction: int = 1) -> Image.Image:
        """Decode the pixels, upright and in RGB.

        Args:
            reduction: 1, 2, 4 or 8: decode a JPEG at this fraction of its
                size (sides rounded up). Other formats decode at full size.

        Returns:
            An ``RGB`` Pillow image.

        Raises:
            BrokenImageError: Truncated or corrupt pixel data.
        """
        image = self._image
        if reduction > 1 and self.is_jpeg:
            width, height = image.size
            image.draft(None, (width // reduction, height // reduction))
        try:
            image.load()
        except Exception as error:  # truncated or corrupt data
            reason = str(error)
            if 'truncated' not in reason:
                reason = f'corrupt image data ({type(error).__name__}: ' \
                         f'{reason})'
            raise BrokenImageError(self.path, reason) from error
        if self.orientation in ORIENTATION_TRANSPOSE:
            image = image.transpose(ORIENTATION_TRANSPOSE[self.orientation])
        return to_rgb(image, self.background)


def min_side_reduction(encoded: EncodedImage, min_size: int) -> int:
    """The largest JPEG reduction keeping both sides at least ``min_size``.

    Args:
        encoded: The image.
        min_size: Smallest side the decoded image may have.

    Returns:
        8, 4, 2 or 1 (always 1 for formats other than JPEG).
    """
    if not encoded.is_jpeg:
        return 1
    return jpeg_reduction(encoded.size, (min_size, min_size))


def to_array(picture: Image.Image, color_type: str = 'color') -> np.ndarray:
    """A Pillow RGB image as mmcv's loader returns it.

    Args:
        picture: An ``RGB`` image.
        color_type: 'color' for BGR HxWx3, 'grayscale' for HxW.

    Returns:
        A uint8 array.
    """
    if color_type == 'grayscale':
        return np.array(picture.convert('L'))
    return mmcv.rgb2bgr(np.asarray(picture))
