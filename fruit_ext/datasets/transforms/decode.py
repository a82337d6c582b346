"""Decode image bytes into the picture a person sees, at reduced scale when
that is enough.

Pillow reads every header (keeping its decompression-bomb guard on) and
decodes what needs care: it composites alpha and converts palette, CMYK and
16-bit images. Plain JPEGs go to OpenCV. Both decode JPEGs at 1/2, 1/4 or
1/8 scale through libjpeg's DCT scaling; the EXIF orientation is applied
afterwards.
"""
import io
from typing import Optional, Tuple

import cv2
import mmcv
import numpy as np
from mmengine import fileio
from PIL import Image, UnidentifiedImageError

#: EXIF orientation tag (1: upright, 2-8: mirrored and/or turned).
ORIENTATION_TAG = 0x0112
#: JPEG DCT scaling factors libjpeg offers, largest first.
JPEG_REDUCTIONS = (8, 4, 2)
CV2_REDUCED = {
    1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8
}
HIGH_DEPTH_MODES = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F')
ALPHA_MODES = ('RGBA', 'RGBa', 'LA', 'La', 'PA')

Size = Tuple[int, int]
Box = Tuple[float, float, float, float]


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


def upright_array(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an HxW(xC) array.

    Args:
        img: Pixels in stored orientation.
        orientation: EXIF orientation, 1 to 8 (others leave ``img`` as is).

    Returns:
        The pixels as displayed (a view when nothing needs copying).
    """
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: a.swapaxes(0, 1)[:, ::-1],
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: a.swapaxes(0, 1)[::-1],
    }.get(orientation)
    return np.ascontiguousarray(turned(img)) if turned else img


class EncodedImage:
    """Image bytes whose header is read but whose pixels are not decoded.

    Pillow reads the header (format, mode, size, EXIF orientation) and keeps
    its decompression-bomb guard. Complete 8-bit colour or grey JPEGs are
    decoded by OpenCV straight to BGR (faster than Pillow plus a
    conversion); everything else by Pillow. ``size`` is the size as
    displayed, i.e. after the EXIF orientation.

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
        self._data = data
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
            what = ('truncated' if 'truncated' in str(error).lower() else
                    'corrupt image header')
            raise BrokenImageError(
                path, f'{what} ({type(error).__name__}: {error})') from error
        #: (width, height) as stored, before the EXIF orientation
        self.stored_size: Size = self._image.size
        width, height = self.stored_size
        #: (width, height) as displayed
        self.size: Size = ((height, width) if self.swaps_axes else
                           (width, height))

    @property
    def is_jpeg(self) -> bool:
        """Whether libjpeg can decode it at reduced scale."""
        return self._image.format in ('JPEG', 'MPO')

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
        image = self._image
        if reduction > 1 and self.is_jpeg:
            width, height = self.stored_size
            image.draft(None, (width // reduction, height // reduction))
        try:
            image.load()
        except Exception as error:  # truncated or corrupt data
            reason = str(error)
            if 'truncated' not in reason:
                reason = f'corrupt image data ({type(error).__name__}: ' \
                         f'{reason})'
            raise BrokenImageError(self.path, reason) from error
        return mmcv.rgb2bgr(np.asarray(to_rgb(image, self.background)))

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
