"""What an upload must satisfy, and the HTTP answer when it does not.

Every upload is decoded by ``image_core.load_rgb`` (the decoder training
uses, with Pillow's bomb guard), after two cheaper checks: its size in
bytes, and its size in pixels read from the header alone.
"""
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .core import image_core

#: HTTP status for each ``BrokenImageError`` kind of ``image_core``.
STATUS_OF_KIND = {
    'zero-byte': 400,
    'non-image': 415,
    'truncated': 400,
    'unreadable': 400,
    'bomb': 413,
    'pixels': 413,
    'bytes': 413,
}

#: What to do, per kind of broken upload.
HINTS = {
    'zero-byte': 'nothing was sent: choose the photo again',
    'non-image': 'send a photo (JPEG, PNG, WebP, BMP, ...)',
    'truncated': 'the file is cut short: send the complete file',
    'bomb': 'send a smaller image',
    '': 'the file is damaged: send another copy',
}


@dataclass(frozen=True)
class Limits:
    """Upload limits.

    Args:
        max_bytes: Largest upload accepted, in bytes.
        max_pixels: Largest image accepted, width x height (Pillow warns
            at 89.5 M and refuses 179 M as a decompression bomb).
    """
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000


class UploadError(Exception):
    """An upload the server refuses, with the HTTP status to answer.

    Args:
        message: What is wrong and what to do, for the user.
        kind: 'zero-byte', 'non-image', 'truncated', 'unreadable', 'bomb',
            'pixels', 'bytes' or 'request'.
        status: HTTP status (4xx).
    """

    def __init__(self, message: str, kind: str = 'request',
                 status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status or STATUS_OF_KIND.get(kind, 400)

    def to_dict(self) -> dict:
        """The JSON body of the error answer."""
        return dict(error=self.message, kind=self.kind)


def too_many_bytes(name: str, limits: Limits) -> UploadError:
    """The error for an upload over the byte limit."""
    return UploadError(
        f'{name}: upload larger than the limit of {limits.max_bytes:,} '
        'bytes; send a smaller file (or start the server with a larger '
        '--max-bytes)', 'bytes')


def decode_upload(data: bytes, name: str, limits: Limits,
                  min_size: Optional[int] = None,
                  background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Check an upload and decode it as training would.

    Args:
        data: The uploaded bytes.
        name: The file name sent, for messages.
        limits: Byte and pixel limits.
        min_size: The test loader's ``min_size`` (reduced JPEG decoding).
        background: The test loader's ``alpha_background``.

    Returns:
        The upright RGB picture, HxWx3 uint8.

    Raises:
        UploadError: Too large, empty, not an image, or corrupt.
    """
    core = image_core()
    if len(data) > limits.max_bytes:
        raise too_many_bytes(name, limits)
    try:
        # header only: refuse huge images before decoding any pixel
        image, _ = core.open_image(data, name)
        width, height = image.size
        if width * height > limits.max_pixels:
            raise UploadError(
                f'{name}: {width} x {height} = {width * height:,} pixels, '
                f'over the limit of {limits.max_pixels:,}; send a smaller '
                'image (or start the server with a larger --max-pixels)',
                'pixels')
        return core.load_rgb(data, min_size, tuple(background), path=name)
    except core.BrokenImageError as error:
        kind = error.kind
        if kind == 'unreadable' and 'truncated' in error.reason.lower():
            kind = 'truncated'  # pixel data cut short (header was fine)
        reason = 'empty file (0 bytes)' if kind == 'zero-byte' \
            else error.reason
        raise UploadError(f'{name}: {reason}; {HINTS.get(kind, HINTS[""])}',
                          kind) from None


class BodyLimitMiddleware:
    """Refuse request bodies over a byte limit while they stream in.

    Starlette spools a whole multipart body before a route sees it, so the
    limit is enforced here: on ``Content-Length`` at once, else by counting
    chunks as they arrive. Applies to paths starting with ``prefix``.

    Args:
        app: The ASGI app.
        max_bytes: Largest file accepted (the multipart envelope gets
            64 KiB on top).
        prefix: Paths to guard.
    """

    def __init__(self, app, max_bytes: int, prefix: str = '/api/') -> None:
        self.app = app
        self.limit = max_bytes + 64 * 1024
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def __call__(self, scope, receive, send) -> None:
        if scope['type'] != 'http' or \
                not scope['path'].startswith(self.prefix):
            return await self.app(scope, receive, send)
        headers = dict(scope.get('headers') or [])
        length = headers.get(b'content-length')
        if length and length.isdigit() and int(length) > self.limit:
            return await self._refuse(receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get('body', b''))
            if seen > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(receive, send)

    async def _refuse(self, receive, send) -> None:
        """Answer 413, after reading (and dropping) a body up to 4 times the
        limit: clients that are still sending would see a reset instead."""
        import json
        drained = 0
        while drained < 4 * self.limit:
            message = await receive()
            drained += len(message.get('body', b''))
            if message['type'] != 'http.request' or \
                    not message.get('more_body'):
                break
        error = too_many_bytes('upload', Limits(max_bytes=self.max_bytes))
        body = json.dumps(error.to_dict()).encode()
        await send(dict(type='http.response.start', status=error.status,
                        headers=[(b'content-type', b'application/json'),
                                 (b'content-length', str(len(body)).encode()),
                                 (b'connection', b'close')]))
        await send(dict(type='http.response.body', body=body))


class _TooLarge(Exception):
    pass
