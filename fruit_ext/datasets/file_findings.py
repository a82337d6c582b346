"""What is wrong with one image file, read with the loader's own core.

:func:`inspect_file` reads and opens a file with
:mod:`fruit_ext.apis.image_core` (the decoder every entry point uses), so a
file it calls broken is one training would fail on, for the same reason;
then it lists what the loader converts (grey, palette, alpha, CMYK, 16-bit,
EXIF rotation) and what deserves a look (wrong extension, too small).
"""
import hashlib
import os.path as osp
import warnings
from typing import Callable, Optional, Sequence

from PIL import Image

from ..apis.image_core import (ALPHA_MODES, HIGH_DEPTH_MODES,
                               BrokenImageError, open_image, read_file)
from .fruit30 import IMG_EXTENSIONS

ERROR, WARNING = 'error', 'warning'
EXT_FORMATS = {
    '.jpg': 'JPEG', '.jpeg': 'JPEG', '.png': 'PNG', '.bmp': 'BMP',
    '.webp': 'WEBP', '.tif': 'TIFF', '.tiff': 'TIFF', '.ppm': 'PPM',
    '.pgm': 'PPM', '.gif': 'GIF'
}
SIGNATURES = {
    b'\xff\xd8\xff': 'JPEG', b'\x89PNG\r\n\x1a\n': 'PNG', b'GIF8': 'GIF',
    b'BM': 'BMP', b'II*\x00': 'TIFF', b'MM\x00*': 'TIFF'
}
GREY_MODES = ('1', 'L', 'LA', 'La') + HIGH_DEPTH_MODES
Add = Callable[[str, str, str], None]


def _sniff(data: bytes) -> Optional[str]:
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'WEBP'
    return next((name for magic, name in SIGNATURES.items()
                 if data.startswith(magic)), None)


def _bit_depth(image: Image.Image, data: bytes) -> int:
    if image.mode in HIGH_DEPTH_MODES:
        return 16
    if image.format == 'PNG' and len(data) > 24:
        return data[24]  # IHDR bit depth
    if image.format == 'TIFF':
        bits = image.tag_v2.get(258, (8, ))
        return max(bits) if isinstance(bits, tuple) else int(bits)
    return 8


def _open_failed(error: BrokenImageError, data: bytes, loaded: bool,
                 add: Add) -> None:
    """Say why the header could not be opened."""
    broken = ERROR if loaded else WARNING
    if error.kind == 'non-image':
        sniffed = _sniff(data)
        if sniffed:
            add('unreadable', broken, f'starts like a {sniffed} file but its '
                'header cannot be parsed')
        else:
            add('non-image', broken, 'not an image' + (
                '; the dataset would try to load it' if loaded else
                '; the dataset ignores it'))
    elif error.kind == 'zero-byte':
        add('zero-byte', broken, 'empty file (0 bytes)')
    else:
        add(error.kind, broken, error.reason)


def _format_findings(image: Image.Image, data: bytes, ext: str,
                     loaded: bool, add: Add) -> None:
    """What the loader converts, and an extension that does not fit."""
    expected = EXT_FORMATS.get(ext)
    if not loaded:
        add('ext-mismatch', WARNING, f'{image.format} image with extension '
            f'{ext or "(none)"}, which the dataset does not load')
    elif expected and expected != image.format and not (
            expected == 'JPEG' and image.format == 'MPO'):  # JPEG + extras
        add('ext-mismatch', WARNING,
            f'named {ext} but holds a {image.format} image')
    mode = image.mode
    if mode in GREY_MODES:
        add('grayscale', WARNING, f'grayscale (mode {mode})')
    if mode in ('P', 'PA'):
        add('palette', WARNING, f'palette image (mode {mode})')
    if mode in ALPHA_MODES or 'transparency' in image.info:
        add('alpha', WARNING, f'has transparency (mode {mode}); '
            'LoadImageFromFile would show what is under it')
    if mode == 'CMYK':
        add('cmyk', WARNING, 'CMYK colours')
    depth = _bit_depth(image, data)
    if depth > 8:
        add('16-bit', WARNING, f'{depth}-bit pixels (mode {mode})')


def _decode_findings(image: Image.Image, loaded: bool, add: Add) -> bool:
    """Decode the pixels; False (and a finding) when that fails."""
    try:
        image.load()
    except Exception as error:  # truncated or corrupt pixel data
        reason = str(error)
        add('truncated' if 'truncated' in reason else 'unreadable',
            ERROR if loaded else WARNING, reason if 'truncated' in reason
            else f'corrupt image data ({type(error).__name__}: {reason})')
        return False
    return True


def inspect_file(path: str, min_size: int = 224,
                 extensions: Sequence[str] = IMG_EXTENSIONS) -> dict:
    """Read and decode one file and say what is wrong with it.

    Args:
        path: The file.
        min_size: Smallest side the pipeline wants.
        extensions: Extensions the dataset loads; problems of other files are
            warnings, since training never opens them.

    Returns:
        ``{'path', 'sha256', 'loadable', 'findings': [(kind, severity,
        message)]}``; ``loadable`` means the dataset loads it and it decodes.
    """
    ext = osp.splitext(path)[1].lower()
    loaded = ext in extensions
    result = dict(path=path, sha256=None, loadable=False, findings=[])

    def add(kind: str, severity: str, message: str) -> None:
        result['findings'].append((kind, severity, message))

    try:
        data = read_file(path)
    except BrokenImageError as error:
        add('unreadable', ERROR if loaded else WARNING, error.reason)
        return result
    if data:
        result['sha256'] = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', Image.DecompressionBombWarning)
        try:
            image, orientation = open_image(data, path)
        except BrokenImageError as error:
            _open_failed(error, data, loaded, add)
            return result
    width, height = image.size
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    _format_findings(image, data, ext, loaded, add)
    if orientation in range(2, 9):
        add('exif-rotated', WARNING, f'EXIF orientation {orientation}: '
            f'stored {image.width}x{image.height}, shown {width}x{height}')
    if min(width, height) < min_size:
        add('too-small', WARNING, f'{width}x{height}, smaller than '
            f'{min_size} px: the pipeline upscales it')
    if any(issubclass(w.category, Image.DecompressionBombWarning)
           for w in caught):
        add('bomb', WARNING, f'{width}x{height} = {width * height} pixels, '
            f'over Pillow\'s limit of {Image.MAX_IMAGE_PIXELS}: Pillow warns '
            'and every load needs that much memory (not decoded here, so '
            'not in the near-duplicate search; find_duplicates.py decodes '
            'it)')
        result['loadable'] = loaded
        return result
    result['loadable'] = loaded and _decode_findings(image, loaded, add)
    return result
