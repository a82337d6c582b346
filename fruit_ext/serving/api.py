"""The JSON API: ``POST /api/predict`` and ``GET /api/health``.

Example::

    curl -F image=@apple.jpg -F topk=3 http://127.0.0.1:7860/api/predict
"""
import time
from typing import Optional

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .batching import Job
from .limits import UploadError, too_many_bytes


def _topk(text: Optional[str], classes: int) -> int:
    if text in (None, ''):
        return min(5, classes)
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise UploadError(f'topk must be a whole number >= 1, got {text!r}')
    return min(value, classes)


def _threshold(text: Optional[str]) -> Optional[float]:
    if text in (None, ''):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise UploadError(f'threshold must be a number in [0, 1], got '
                          f'{text!r}')
    return value


async def read_upload(request: Request, limits) -> tuple:
    """The ``image`` field of a multipart request: (bytes, file name)."""
    try:
        form = await request.form(max_files=1, max_fields=8)
    except Exception as error:  # malformed multipart bodies raise many kinds
        raise UploadError(
            f'could not read the form ({error}); send multipart/form-data '
            'with a file field "image", e.g. curl -F image=@photo.jpg') \
            from None
    upload = form.get('image')
    if upload is None or isinstance(upload, str):
        raise UploadError(
            'no file field "image" in the form; send multipart/form-data, '
            'e.g. curl -F image=@photo.jpg URL/api/predict')
    name = upload.filename or 'upload'
    data = await upload.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise too_many_bytes(name, limits)
    return data, name, form


def build_router(state) -> APIRouter:
    """The API routes.

    Args:
        state: The server state (``backend``, ``batcher``, ``limits``,
            ``counts``, ``started``, ``decode``).
    """
    router = APIRouter(prefix='/api')

    @router.post('/predict')
    async def predict(request: Request):
        try:
            data, name, form = await read_upload(request, state.limits)
            topk = _topk(form.get('topk'), len(state.backend.classes))
            threshold = _threshold(form.get('threshold'))
            image = await state.decode(data, name)
            result = await state.batcher.submit(
                Job(image, data, topk, threshold, name))
        except UploadError as error:
            state.counts['rejected'] += 1
            return JSONResponse(error.to_dict(), status_code=error.status)
        state.counts['answered'] += 1
        return dict(result, model=state.backend.name)

    @router.get('/health')
    async def health():
        return dict(state.backend.health(), status='ok',
                    uptime_s=round(time.monotonic() - state.started, 1),
                    requests=dict(state.counts),
                    batching=dict(state.batcher.stats.to_dict(),
                                  max_batch=state.batcher.max_batch,
                                  max_wait_ms=state.batcher.max_wait * 1e3),
                    limits=dict(max_bytes=state.limits.max_bytes,
                                max_pixels=state.limits.max_pixels))

    return router
