"""The one image decoder of fruit_ext: numpy and Pillow only.

Training's ``RobustLoadImageFromFile`` (through
:mod:`fruit_ext.datasets.transforms.decode`), ``inference_model``, the tools
and the standalone ONNX predictor all turn a file into pixels here, so the
same file gives the same picture everywhere:

- Pillow reads the header, with its decompression-bomb guard on;
- JPEGs may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling);
- alpha (also a palette or grey image's transparent colour) is composited on
  a background colour, 16-bit and float greys are scaled (not clipped) to 8
  bits, CMYK, palette and grey images are converted to RGB;
- the EXIF orientation is applied last, on the decoded array.

This module imports nothing from torch or OpenMMLab: it is copied next to a
model together with ``predictor.py``.
"""
import io
import os
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

#: EXIF orientation tag (1: upright, 2-8: mirrored and/or turned).
ORIENTATION_TAG = 0x0112
#: JPEG DCT scaling factors libjpeg offers, largest first.
JPEG_REDUCTIONS = (8, 4, 2)
HIGH_DEPTH_MODES = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F')
ALPHA_MODES = ('RGBA', 'RGBa', 'LA', 'La', 'PA')
WHITE = (255, 255, 255)

Size = Tuple[int, int]
PathLike = Union[str, os.PathLike]


class BrokenImageError(Exception):
    """An image file that cannot be read or decoded.

    Args:
        path: The file.
        reason: What is wrong with it.
        kind: 'zero-byte', 'unreadable', 'truncated', 'non-image' or 'bomb'
            (the finding kinds of :mod:`fruit_ext.datasets.check`).
    """

    def __init__(self, path: str, reason: str,
                 kind: str = 'unreadable') -> None:
        super().__init__(f'{path}: {reason}')
        self.path = path
        self.reason = reason
        self.kind = kind

    def __reduce__(self):
        return type(self), (self.path, self.reason, self.kind)


def read_file(path: PathLike) -> bytes:
    """Read a local file.

    Args:
        path: The file.

    Returns:
        Its content.

    Raises:
        BrokenImageError: The file is missing or unreadable.
    """
    try:
        with open(path, 'rb') as file:
            return file.read()
    except OSError as error:
        raise BrokenImageError(
            os.fspath(path),
            f'cannot read the file ({error.strerror or error})') from error


def open_image(data: bytes, path: str) -> Tuple[Image.Image, int]:
    """Read the header of image bytes, without decoding the pixels.

    Args:
        data: The file content.
        path: Where it came from, for error messages.

    Returns:
        (the lazily loaded Pillow image, its EXIF orientation).

    Raises:
        BrokenImageError: Empty file, not an image, or refused by Pillow's
            decompression-bomb guard.
    """
    if not data:
        raise BrokenImageError(
            path, 'empty file (0 bytes): nothing to decode; copy the image '
            'again or remove the file', 'zero-byte')
    try:
        image = Image.open(io.BytesIO(data))
        return image, image.getexif().get(ORIENTATION_TAG, 1)
    except Image.DecompressionBombError as error:
        raise BrokenImageError(
            path, f"refused by Pillow's decompression-bomb guard: {error}",
            'bomb') from error
    except UnidentifiedImageError as error:
        raise BrokenImageError(
            path, 'not an image file Pillow can identify (wrong content '
            'or corrupt header)', 'non-image') from error
    except Exception as error:  # corrupt headers raise many kinds
        what = ('truncated' if 'truncated' in str(error).lower() else
                'corrupt image header')
        raise BrokenImageError(
            path, f'{what} ({type(error).__name__}: {error})',
            'truncated' if what == 'truncated' else 'unreadable') from error


def is_jpeg(image: Image.Image) -> bool:
    """Whether libjpeg decodes it (and can do so at reduced scale).

    Args:
        image: An opened Pillow image.

    Returns:
        True for JPEG and MPO (JPEG with extra frames).
    """
    return image.format in ('JPEG', 'MPO')


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
           background: Tuple[int, int, int] = WHITE) -> Image.Image:
    """Convert any Pillow image to 8-bit RGB without losing what it shows.

    Alpha (also a palette or grey image's transparent colour) is composited
    on ``background``; 16-bit and 32-bit greys are scaled, not clipped, to
    8 bits (1/257); float greys in [0, 1] are scaled by 255, others clipped
    to [0, 255]; CMYK, palette, grey and other modes go through Pillow.

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


def decode_stored_rgb(image: Image.Image, path: str, reduction: int = 1,
                      background: Tuple[int, int, int] = WHITE
                      ) -> np.ndarray:
    """Decode an opened image to RGB, in its stored orientation.

    Args:
        image: From :func:`open_image`, not yet loaded.
        path: The file, for error messages.
        reduction: 1, 2, 4 or 8: decode a JPEG at this fraction of its size
            (the size is rounded up); other formats decode at full size.
        background: RGB colour behind transparent pixels.

    Returns:
        An HxWx3 uint8 RGB array.

    Raises:
        BrokenImageError: Truncated or corrupt pixel data.
    """
    if reduction > 1 and is_jpeg(image):
        width, height = image.size
        image.draft(None, (width // reduction, height // reduction))
    try:
        image.load()
    except Exception as error:  # truncated or corrupt data
        reason = str(error)
        if 'truncated' not in reason:
            reason = f'corrupt image data ({type(error).__name__}: {reason})'
        raise BrokenImageError(path, reason) from error
    return np.asarray(to_rgb(image, background))


def displayed_size(image: Image.Image, orientation: int) -> Size:
    """(width, height) as displayed, i.e. after the EXIF orientation.

    Args:
        image: An opened image.
        orientation: Its EXIF orientation.

    Returns:
        The displayed size.
    """
    width, height = image.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def load_rgb(source: Union[PathLike, bytes],
             min_size: Optional[int] = None,
             background: Tuple[int, int, int] = WHITE,
             path: Optional[str] = None) -> np.ndarray:
    """Decode an image file to the upright RGB picture a person sees.

    Exactly the pixels of ``RobustLoadImageFromFile(min_size=min_size,
    alpha_background=background)`` (which returns them as BGR).

    Args:
        source: A file path, or the file's bytes.
        min_size: Decode JPEGs at the largest 1/2, 1/4 or 1/8 scale that
            keeps both sides at least this long; None decodes full size.
        background: RGB colour behind transparent pixels.
        path: Name for error messages when ``source`` is bytes.

    Returns:
        An HxWx3 uint8 RGB array.

    Raises:
        BrokenImageError: Missing, empty, not an image, or corrupt.
    """
    if isinstance(source, bytes):
        data, path = source, path or '<bytes>'
    else:
        data, path = read_file(source), os.fspath(source)
    image, orientation = open_image(data, path)
    reduction = 1
    if min_size and is_jpeg(image):
        reduction = jpeg_reduction(displayed_size(image, orientation),
                                   (min_size, min_size))
    return upright_array(
        decode_stored_rgb(image, path, reduction, tuple(background)),
        orientation)


# ---- the test pipeline's geometry (ResizeEdge, CenterCrop), for the
# standalone ONNX Predictor ----
INTERPOLATION = {
    'nearest': Image.Resampling.NEAREST,
    'bilinear': Image.Resampling.BILINEAR,
    'bicubic': Image.Resampling.BICUBIC,
    'box': Image.Resampling.BOX,
    'lanczos': Image.Resampling.LANCZOS,
    'hamming': Image.Resampling.HAMMING,
}


def resize_edge(image: Image.Image, size: int, edge: str,
                interpolation: str) -> Image.Image:
    """Resize so that one edge has ``size`` pixels, keeping the aspect ratio.

    Same sizes as mmpretrain's ``ResizeEdge``.

    Args:
        image: RGB image.
        size: Target length of the chosen edge.
        edge: 'short', 'long', 'width' or 'height'.
        interpolation: Pillow filter name, e.g. 'bilinear'.

    Returns:
        The resized image.
    """
    w, h = image.size
    if (edge == 'short' and w < h) or (edge == 'long' and w > h) \
            or edge == 'width':
        new_size = (size, int(size * h / w))
    else:
        new_size = (int(size * w / h), size)
    return image.resize(new_size, INTERPOLATION[interpolation])


def center_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """Crop the centre, as mmcv's ``CenterCrop`` (no padding).

    Args:
        image: Image to crop.
        width: Crop width (clipped to the image).
        height: Crop height (clipped to the image).

    Returns:
        The cropped image.
    """
    w, h = image.size
    width, height = min(width, w), min(height, h)
    left = max(0, int(round((w - width) / 2.)))
    top = max(0, int(round((h - height) / 2.)))
    return image.crop((left, top, left + width, top + height))
