"""The Gradio page: one photo (upload, paste, webcam, examples) or a batch.

Every upload goes through the same checks, decoder and batcher as the API,
so the page shows what ``POST /api/predict`` answers; a refused file shows
the same message.
"""
import asyncio
import csv
import os.path as osp
import tempfile
from typing import List, Optional, Sequence

import gradio as gr

from .batching import Job
from .limits import UploadError

TOPK = 5


class RawImage(gr.Image):
    """``gr.Image`` that hands over the uploaded file untouched.

    Gradio's own preprocessing opens the file with Pillow first, so a
    broken upload fails with Pillow's message before our checks run.
    """
    is_template = True  # the frontend draws it as a plain gr.Image

    def preprocess(self, payload):
        if payload is None or (payload.url or '').startswith('data:'):
            return super().preprocess(payload)  # webcam / pasted data URL
        return payload.path


def label_value(result: dict) -> dict:
    """``gr.Label`` value: top classes as 'Chinese name · alias' bars (the
    status line says when the best guess is "unknown")."""
    def text(entry):
        name, alias = entry['class'], entry['alias']
        return name if alias in ('', name) else f'{name} · {alias}'
    return {text(t): t['score'] for t in result['topk']}


def status_text(result: dict, model: str) -> str:
    """One line under the bars."""
    best = f"**{result['pred_class']}** ({result['pred_alias']}), " \
           f"score {result['pred_score']:.3f}"
    if result['unknown']:
        return (f"**Unknown**: best guess {best}; its {result['score_kind']}"
                f" score is below the threshold {result['threshold']:.3g}. "
                f'Model: {model}.')
    return f'Top-1: {best}. Model: {model}.'


def slider_default(backend) -> float:
    """The slider's start: the stored probability threshold, else 0 (an
    energy-score threshold is not a probability; it stays in force until
    the slider is moved)."""
    kind, threshold = backend.default_rule
    return threshold if kind == 'msp' and 0 <= threshold <= 1 else 0.0


def refused_text(error: UploadError) -> str:
    """The page's message for a refused file."""
    return f'**Cannot classify this file** ({error.kind}): {error.message}'


class PageHandlers:
    """The page's event handlers, sharing the API's state.

    Args:
        state: The server state (``backend``, ``batcher``, ``limits``).
    """

    def __init__(self, state) -> None:
        self.state = state

    def _threshold(self, value: Optional[float]) -> Optional[float]:
        if value is None or abs(float(value) - slider_default(
                self.state.backend)) < 1e-9:
            return None  # the model's own (stored) rule
        return float(value)

    async def _predict_file(self, path: str, threshold: Optional[float]):
        name = osp.basename(path)
        data = await asyncio.to_thread(_read, path,
                                       self.state.limits.max_bytes)
        image = await self.state.decode(data, name)
        result = await self.state.batcher.submit(
            Job(image, data, TOPK, threshold, name))
        return image, result

    async def classify(self, path: Optional[str], threshold: float,
                       cam: bool):
        """One photo -> (bars, status line, Grad-CAM picture)."""
        if not path:
            return None, 'Upload, paste or take a photo.', None
        try:
            image, result = await self._predict_file(
                path, self._threshold(threshold))
        except UploadError as error:
            self.state.counts['rejected'] += 1
            return None, refused_text(error), None
        self.state.counts['answered'] += 1
        backend = self.state.backend
        overlay, status = None, status_text(result, backend.name)
        if cam and backend.supports_cam:
            try:
                overlay = await self.state.batcher.call(
                    backend.cam, image, result['pred_label'])
            except Exception as error:  # the answer stands without it
                status += f' (No Grad-CAM: {type(error).__name__}: {error})'
        return label_value(result), status, overlay

    async def classify_many(self, paths: Optional[Sequence[str]],
                            threshold: float):
        """Several files -> (table rows, CSV file)."""
        if not paths:
            return [], None
        threshold = self._threshold(threshold)
        answers = await asyncio.gather(
            *[self._predict_file(p, threshold) for p in paths],
            return_exceptions=True)
        rows = [_row(osp.basename(p), a) for p, a in zip(paths, answers)]
        out = tempfile.NamedTemporaryFile(
            'w', suffix='.csv', prefix='predictions_', delete=False,
            dir=self.state.tmp, newline='', encoding='utf-8-sig')
        with out:  # utf-8-sig: spreadsheets read the Chinese names
            writer = csv.writer(out)
            writer.writerow(BATCH_HEADERS)
            writer.writerows(rows)
        return rows, out.name


BATCH_HEADERS = ['file', 'class', 'alias', 'score', 'unknown', 'error']


def _row(name: str, answer) -> List:
    if isinstance(answer, UploadError):
        return [name, '', '', '', '', answer.message]
    if isinstance(answer, BaseException):
        raise answer
    result = answer[1]
    return [name, result['pred_class'], result['pred_alias'],
            round(result['pred_score'], 4), result['unknown'], '']


def _read(path: str, max_bytes: int) -> bytes:
    with open(path, 'rb') as file:
        return file.read(max_bytes + 1)


def build_page(state, examples: Sequence[str]) -> gr.Blocks:
    """The page's layout and events.

    Args:
        state: The server state.
        examples: Example photo files.
    """
    backend = state.backend
    handlers = PageHandlers(state)
    # uploads Gradio keeps in its cache are deleted after an hour
    with gr.Blocks(title=f'{backend.name} · fruit_ext',
                   analytics_enabled=False,
                   delete_cache=(3600, 3600)) as page:
        gr.Markdown(f'## {backend.name}\n{len(backend.classes)} classes, '
                    f'{backend.backend} backend. JSON API: `POST /api/predict`'
                    ' (see `/api/health`).')
        kind, stored = backend.default_rule
        threshold = gr.Slider(
            0.0, 1.0, value=slider_default(backend), step=0.01,
            label='"Unknown" below this best calibrated probability',
            info=f'start: the model\'s stored rule ({kind} score, threshold '
            f'{stored:.3g}; 0 = none)', elem_id='threshold')
        with gr.Tab('Photo'):
            with gr.Row():
                with gr.Column():
                    photo = RawImage(type='filepath', image_mode=None,
                                     sources=['upload', 'clipboard', 'webcam'],
                                     label='Photo', height=320,
                                     elem_id='photo')
                    cam = gr.Checkbox(
                        label='Grad-CAM overlay (where the model looked)',
                        visible=backend.supports_cam, elem_id='cam')
                    if examples:
                        gr.Examples([[p] for p in examples], inputs=[photo],
                                    label='Examples')
                with gr.Column():
                    bars = gr.Label(num_top_classes=TOPK, label='Top 5',
                                    elem_id='top5')
                    status = gr.Markdown(elem_id='status')
                    overlay = gr.Image(label='Grad-CAM', interactive=False,
                                       visible=backend.supports_cam,
                                       elem_id='overlay')
            inputs = [photo, threshold, cam]
            for trigger in (photo.change, threshold.release, cam.change):
                trigger(handlers.classify, inputs, [bars, status, overlay])
        with gr.Tab('Batch'):
            files = gr.File(file_count='multiple', label='Photos',
                            elem_id='batch_files')
            run = gr.Button('Classify all', variant='primary')
            table = gr.Dataframe(headers=BATCH_HEADERS, interactive=False,
                                 elem_id='batch_table')
            download = gr.File(label='CSV', interactive=False,
                               elem_id='batch_csv')
            run.click(handlers.classify_many, [files, threshold],
                      [table, download])
    return page
