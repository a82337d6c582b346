"""One FastAPI app: the JSON API under ``/api``, the Gradio page at ``/``.

The page fetches nothing from outside the server: Gradio's bundled assets,
system fonts for Latin text and the CJK font of the PyPI package
``mplfonts`` (the set-up installs it), served from ``/fonts/cjk.otf``.
Gradio's analytics are off (``GRADIO_ANALYTICS_ENABLED=False`` must be set
before gradio is imported; ``tools/demo/serve.py`` does).
"""
import asyncio
import importlib.util
import os
import os.path as osp
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional, Sequence

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse

from .api import build_router
from .batching import MicroBatcher
from .limits import BodyLimitMiddleware, Limits

FONT_ROUTE = '/fonts/cjk.otf'
#: CJK ideographs, punctuation and full-width forms: only these glyphs come
#: from the (16 MB) CJK font, so pages without Chinese never load it.
CJK_RANGE = 'U+2E80-2FFF, U+3000-303F, U+3400-4DBF, U+4E00-9FFF, ' \
            'U+F900-FAFF, U+FF00-FFEF'


@dataclass
class ServerState:
    """What the routes and the page share.

    Args:
        backend: The served model.
        batcher: Its request batcher.
        limits: Upload limits.
        tmp: Private temporary folder (batch CSVs, drawn examples).
    """
    backend: object
    batcher: MicroBatcher
    limits: Limits
    tmp: str
    counts: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    # Decoding uploads: a few threads, not the event loop and not anyio's
    # 40 (more threads than cores only add memory: one malloc arena each).
    decoder: ThreadPoolExecutor = field(default_factory=lambda: (
        ThreadPoolExecutor(min(4, os.cpu_count() or 1),
                           thread_name_prefix='decode')))

    async def decode(self, data: bytes, name: str):
        """Check and decode an upload in a decoder thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self.decoder, self.backend.decode, data, name, self.limits)


def cjk_font_file() -> Optional[str]:
    """The Noto Sans CJK SC file of ``mplfonts``, found without importing
    it (same file as fruit_ext.visualization.fonts uses)."""
    spec = importlib.util.find_spec('mplfonts')
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = osp.join(folder, 'fonts', 'NotoSansCJKsc-Regular.otf')
        if osp.isfile(path):
            return path
    return None


def page_style(font_file: Optional[str]):
    """(theme, css): system fonts, plus the served CJK font if any."""
    import gradio as gr
    families = ['ui-sans-serif', 'system-ui', 'sans-serif']
    mono = ['ui-monospace', 'Consolas', 'monospace']
    css = ''
    if font_file:  # first, but only for CJK glyphs (unicode-range)
        families.insert(0, 'Fruit CJK')
        mono.insert(0, 'Fruit CJK')
        css = ("@font-face { font-family: 'Fruit CJK'; src: "
               f"url('{FONT_ROUTE}') format('opentype'); "
               f'unicode-range: {CJK_RANGE}; font-display: swap; }}')
    theme = gr.themes.Default(font=families, font_mono=mono)
    return theme, css


def build_app(backend, limits: Limits = Limits(), max_batch: int = 16,
              max_wait_ms: float = 10.0,
              examples: Sequence[str] = (),
              examples_dir: Optional[str] = None) -> FastAPI:
    """The server app.

    Args:
        backend: A :class:`~fruit_ext.serving.backends.Backend`.
        limits: Upload limits.
        max_batch: Most images per forward pass.
        max_wait_ms: How long a request waits for others to batch with.
        examples: Example photos; when empty, found by
            :func:`~fruit_ext.serving.examples.find_examples`.
        examples_dir: ``--examples`` folder for that search.

    Returns:
        The FastAPI app (serve it with uvicorn).
    """
    import gradio as gr

    from .examples import find_examples
    from .page import build_page
    tmp = tempfile.mkdtemp(prefix='fruit_serve_page_')
    batcher = MicroBatcher(backend.predict, max_batch, max_wait_ms)
    state = ServerState(backend, batcher, limits, tmp)
    app = FastAPI(title=f'{backend.name} (fruit_ext)', docs_url='/api/docs',
                  redoc_url=None, openapi_url='/api/openapi.json')
    app.include_router(build_router(state))
    font = cjk_font_file()

    @app.get(FONT_ROUTE, include_in_schema=False)
    async def cjk_font():
        if font is None:
            return JSONResponse({'error': 'no CJK font installed'}, 404)
        return FileResponse(font, media_type='font/otf', headers={
            'Cache-Control': 'public, max-age=86400'})

    @app.on_event('shutdown')
    def cleanup():
        batcher.close()
        state.decoder.shutdown(wait=False, cancel_futures=True)
        getattr(backend, 'close', lambda: None)()
        shutil.rmtree(tmp, ignore_errors=True)

    examples = list(examples) or find_examples(backend, examples_dir, tmp)
    theme, css = page_style(font)
    page = build_page(state, examples)
    page.queue(default_concurrency_limit=max_batch)
    app = gr.mount_gradio_app(
        app, page, path='/', theme=theme, css=css, ssr_mode=False,
        max_file_size=limits.max_bytes, allowed_paths=[tmp],
        footer_links=['api'], enable_monitoring=False, mcp_server=False)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_bytes)
    app.state.fruit = state
    return app
