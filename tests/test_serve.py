"""tools/demo/serve.py as a real process: JSON API, bad uploads, batching,
the ONNX backend without torch."""
import asyncio
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from mmpretrain import inference_model
from PIL import Image

from fruit_ext.apis.inference import init_model
from fruit_ext.datasets import FRUIT30_CLASSES
from serve_helpers import listening_addresses, serve

GOOD = ('val', '草莓', '0.jpg')


def post(url: str, name: str, data: bytes, **fields) -> httpx.Response:
    return httpx.post(url + '/api/predict', files={'image': (name, data)},
                      data={k: str(v) for k, v in fields.items()}, timeout=60)


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def bad_uploads() -> list:
    """(file name, bytes, HTTP status, kind): every way an upload fails."""
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
    jpeg = encoded(Image.fromarray(noise), 'JPEG', quality=90)
    return [
        ('notes.txt', b'not a picture\n', 415, 'non-image'),
        ('empty.jpg', b'', 400, 'zero-byte'),
        ('cut.jpg', jpeg[:len(jpeg) // 2], 400, 'truncated'),
        # the served fixture allows 1 M pixels and 2 MB
        ('wide.png', encoded(Image.new('L', (1200, 1000)), 'PNG'), 413,
         'pixels'),
        ('big.jpg', jpeg * (2_100_000 // len(jpeg) + 1), 413, 'bytes'),
    ]


def test_api_answers_like_inference_model_and_survives_bad_uploads(
        served_model, fruit_tree):
    url, process, config, checkpoint = served_model
    health = httpx.get(url + '/api/health').json()
    assert (health['backend'], health['model'], health['status']) == \
        ('pytorch', 'served', 'ok')
    assert len(health['classes']) == 30 and health['input_size'] == [32, 32]
    assert health['grad_cam'] is True
    assert health['aliases'][health['classes'].index('草莓')] == 'strawberry'
    # nothing but the loopback address asked for
    assert listening_addresses(process.pid) == {url[len('http://'):]}

    good = fruit_tree.joinpath(*GOOD)
    expected = inference_model(init_model(str(config), str(checkpoint)),
                               str(good))
    first = post(url, good.name, good.read_bytes())
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer['pred_class'] == expected['pred_class']
    assert answer['pred_score'] == pytest.approx(expected['pred_score'],
                                                 abs=1e-5)
    assert [t['class'] for t in answer['topk']][0] == answer['pred_class']
    assert len(answer['topk']) == 5 and answer['model'] == 'served'
    assert answer['unknown'] is False

    for name, data, status, kind in bad_uploads():
        reply = post(url, name, data)
        assert (reply.status_code, reply.json()['kind']) == (status, kind), \
            reply.text
        assert name in reply.json()['error'] or kind == 'bytes'
    assert httpx.post(url + '/api/predict', data={'x': '1'}).status_code == 400
    assert 'topk' in post(url, good.name, good.read_bytes(),
                          topk=0).json()['error']

    # an explicit threshold over the best score: "unknown", best guess kept
    doubtful = post(url, good.name, good.read_bytes(), threshold=0.999).json()
    assert doubtful['unknown'] is True and doubtful['threshold'] == 0.999
    assert doubtful['pred_class'] == answer['pred_class']
    assert post(url, good.name, good.read_bytes(),
                threshold=2).json()['kind'] == 'request'

    again = post(url, good.name, good.read_bytes(), topk=2)
    assert again.status_code == 200 and process.poll() is None
    assert again.json()['pred_class'] == answer['pred_class']
    assert len(again.json()['topk']) == 2
    counts = httpx.get(url + '/api/health').json()['requests']
    assert counts['rejected'] >= 6 and counts['answered'] >= 2


def test_requests_arriving_together_share_a_batch(served_model, fruit_tree):
    url = served_model[0]
    files = sorted(fruit_tree.glob('val/*/0.jpg'))[:12]
    alone = {f: post(url, f.name, f.read_bytes()).json() for f in files[:3]}

    async def together():
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*[
                client.post(url + '/api/predict',
                            files={'image': (f.name, f.read_bytes())})
                for f in files])

    replies = asyncio.run(together())
    assert [r.status_code for r in replies] == [200] * len(files)
    for path, reply in zip(files, replies):
        if path in alone:  # batching does not change an answer
            assert reply.json()['pred_class'] == alone[path]['pred_class']
            assert reply.json()['pred_score'] == pytest.approx(
                alone[path]['pred_score'], abs=1e-5)
    batching = httpx.get(url + '/api/health').json()['batching']
    assert batching['largest_batch'] >= 2, batching


def test_onnx_backend_runs_without_torch(served_model, fruit_tree,
                                         tmp_path: Path):
    from fruit_ext.apis.onnx_export import export_onnx, preprocess_spec
    url, _, config, checkpoint = served_model
    model = init_model(str(config), str(checkpoint))
    onnx_file = export_onnx(
        model, str(tmp_path / 'served.onnx'), FRUIT30_CLASSES,
        preprocess_spec(model._config, model), sample_size=(32, 32))
    good = fruit_tree.joinpath(*GOOD)
    torch_answer = post(url, good.name, good.read_bytes()).json()
    with serve(['--onnx', onnx_file, '--examples', str(fruit_tree / 'val')],
               tmp_path / 'onnx.log') as (onnx_url, process):
        health = httpx.get(onnx_url + '/api/health').json()
        assert health['backend'] == 'onnx' and len(health['classes']) == 30
        assert health['grad_cam'] is False
        maps = Path(f'/proc/{process.pid}/maps').read_text()
        assert 'libtorch' not in maps and 'onnxruntime' in maps
        assert post(onnx_url, 'empty.jpg', b'').status_code == 400
        answer = post(onnx_url, good.name, good.read_bytes(), topk=3).json()
    assert answer['pred_class'] == torch_answer['pred_class']
    assert answer['pred_score'] == pytest.approx(torch_answer['pred_score'],
                                                 abs=1e-4)
    assert len(answer['topk']) == 3
