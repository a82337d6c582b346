"""Decode image bytes into the picture a person sees, at reduced scale when
that is enough.

The decoding itself is :mod:`fruit_ext.apis.image_core` (Pillow and numpy
only), shared with ``inference_model``, the tools and the standalone ONNX
predictor. This module adds what training needs on top: mmengine file
backends, deferred (lazy) decoding, BGR output, and a faster path for plain
JPEGs: complete 8-bit colour or grey JPEGs are decoded by OpenCV straight to
BGR, which gives the same pixels as Pillow (both use libjpeg-turbo's
default IDCT and upsampling, at 1/1, 1/2, 1/4 and 1/8 scale;
``tests/test_loader_parity.py`` checks it) in about a third of the time at
full size.
"""
from typing import Optional, Tuple

import cv2
import numpy as np
from mmengine import fileio

from ...apis.image_core import (ALPHA_MODES, HIGH_DEPTH_MODES,  # noqa: F401
                                JPEG_REDUCTIONS, ORIENTATION_TAG, WHITE,
                                BrokenImageError, decode_stored_rgb,
                                displayed_size, is_jpeg, jpeg_reduction,
                                open_image, to_rgb, upright_array)

CV2_REDUCED = {
    1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8
}

Size = Tuple[int, int]
Box = Tuple[float, float, float, float]

__all__ = [
    'ALPHA_MODES', 'HIGH_DEPTH_MODES', 'JPEG_REDUCTIONS', 'ORIENTATION_TAG',
    'BrokenImageError', 'EncodedImage', 'jpeg_reduction', 'min_side_reduction',
    'read_bytes', 'to_color_type', 'to_rgb', 'upright_array'
]


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


class EncodedImage:
    """Image bytes whose header is read but whose pixels are not decoded.

    Pillow reads the header (format, mode, size, EXIF orientation) and keeps
    its decompression-bomb guard (:func:`~fruit_ext.apis.image_core.
    open_image`). Complete 8-bit colour or grey JPEGs are decoded by OpenCV
    straight to BGR (same pixels as Pillow, faster); everything else by
    :func:`~fruit_ext.apis.image_core.decode_stored_rgb`. ``size`` is the
    size as displayed, i.e. after the EXIF orientation.

    Args:
        data: The file content.
        path: Where it came from, for error messages.
        background: RGB colour behind transparent pixels.

    Raises:
        BrokenImageError: Empty file, not an image, or refused by Pillow's
            decompression-bomb guard.
    """

    def __init__(self, data: bytes, path: str,
                 background: Tuple[int, int, int] = WHITE) -> None:
        self.path = path
        self.background = tuple(background)
        self._data = data
        self._image, self.orientation = open_image(data, path)
        #: (width, height) as stored, before the EXIF orientation
        self.stored_size: Size = self._image.size
        #: (width, height) as displayed
        self.size: Size = displayed_size(self._image, self.orientation)

    @property
    def is_jpeg(self) -> bool:
        """Whether libjpeg can decode it at reduced scale."""
        return is_jpeg(self._image)

    @property
    def is_upright(self) -> bool:
        """Whether the stored pixels are shown as they are."""
        return self.orientation not in range(2, 9)

    @property
    def swaps_axes(self) -> bool:
        """Whether the EXIF orientation turns the image by 90 degrees."""
        return self.orientation in (5, 6, 7, 8)

    def decode_stored(self, reduction: int = 1) -> np.ndarray:
        """Decode the pixels to BGR, in their stored orientation.

        Args:
            reduction: 1, 2, 4 or 8: decode a JPEG at this fraction of its
                size; stored pixel x becomes x / reduction (the size is
                rounded up). Other formats decode at full size.

        Returns:
            An HxWx3 uint8 BGR array.

        Raises:
            BrokenImageError: Truncated or corrupt pixel data.
        """
        # OpenCV decodes a cut-off JPEG without complaint (grey rows), so
        # only files that end with the EOI marker take that path.
        if self.is_jpeg and self._image.mode in ('RGB', 'L') and \
                self._data.endswith(b'\xff\xd9'):
            img = cv2.imdecode(
                np.frombuffer(self._data, np.uint8),
                CV2_REDUCED[reduction] | cv2.IMREAD_IGNORE_ORIENTATION)
            if img is not None:
                return img
        rgb = decode_stored_rgb(self._image, self.path, reduction,
                                self.background)
        return np.ascontiguousarray(rgb[..., ::-1])

    def upright(self, img: np.ndarray) -> np.ndarray:
        """Apply the EXIF orientation to pixels in stored orientation.

        Args:
            img: The decoded image, or any crop or resize of it.

        Returns:
            The pixels as displayed.
        """
        return upright_array(img, self.orientation)

    def decode(self, reduction: int = 1) -> np.ndarray:
        """Decode the pixels, upright, to BGR.

        Args:
            reduction: See :meth:`decode_stored`.

        Returns:
            An HxWx3 uint8 BGR array.

        Raises:
            BrokenImageError: Truncated or corrupt pixel data.
        """
        return self.upright(self.decode_stored(reduction))

    def stored_box(self, box: Box) -> Box:
        """Map a box on the displayed image to the stored image.

        Args:
            box: (left, top, right, bottom) in displayed pixel edges.

        Returns:
            The same region in stored pixel edges.
        """
        x0, y0, x1, y1 = box
        width, height = self.stored_size
        return {
            2: (width - x1, y0, width - x0, y1),
            3: (width - x1, height - y1, width - x0, height - y0),
            4: (x0, height - y1, x1, height - y0),
            5: (y0, x0, y1, x1),
            6: (y0, height - x1, y1, height - x0),
            7: (width - y1, height - x1, width - y0, height - x0),
            8: (width - y1, x0, width - y0, x1),
        }.get(self.orientation, box)


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


def to_color_type(img: np.ndarray, color_type: str = 'color') -> np.ndarray:
    """A BGR image as mmcv's loader returns it for ``color_type``.

    Args:
        img: An HxWx3 BGR array.
        color_type: 'color' (kept) or 'grayscale' (HxW).

    Returns:
        A uint8 array.
    """
    if color_type == 'grayscale':
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img
