"""OpenVINO as the Predictor's backend: ONNX fp32/int8 files and the IR."""
import sys

import numpy as np
import pytest

from conftest import run
from fruit_ext.apis.onnx_export import export_onnx, preprocess_spec
from fruit_ext.apis.onnx_quantize import images_in, quantize_onnx
from fruit_ext.apis.openvino_backend import same_top1
from fruit_ext.apis.predictor import Predictor
from fruit_ext.datasets import FRUIT30_CLASSES
from test_infer_api import train_tiny_model, write_photo

pytest.importorskip('openvino')
pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def models(tmp_path_factory, fruit_tree):
    """fp32 and int8 ONNX files of the trained tiny model, and photos."""
    from mmpretrain import get_model
    config, checkpoint = train_tiny_model(tmp_path_factory, fruit_tree)
    model = get_model(str(config), pretrained=str(checkpoint))
    folder = tmp_path_factory.mktemp('openvino')
    fp32 = export_onnx(model, str(folder / 'm.onnx'), FRUIT30_CLASSES,
                       preprocess_spec(model._config, model),
                       sample_size=(32, 32))
    int8 = quantize_onnx(fp32, str(folder / 'm.int8.onnx'),
                         images_in(str(fruit_tree / 'val'))[:12])
    photos = [str(write_photo(folder / f'{i}.jpg', (64, 48), seed=10 + i))
              for i in range(3)]
    return fp32, int8, photos + [str(fruit_tree / 'val' / '草莓' / '0.jpg')]


@pytest.mark.parametrize('kind', ['fp32', 'int8'])
def test_openvino_predicts_what_onnxruntime_predicts(models, kind):
    fp32, int8, photos = models
    path = fp32 if kind == 'fp32' else int8
    ort, ov = Predictor(path), Predictor(path, backend='openvino',
                                         num_threads=1)
    assert ov.backend == 'openvino' and ov.classes == ort.classes
    assert ov.preprocess_cfg == ort.preprocess_cfg
    want, got = ort(photos), ov(photos)
    if kind == 'fp32':
        assert [r['pred_label'] for r in got] == \
            [r['pred_label'] for r in want]
    else:  # the tiny model has near-ties that int8 noise may flip
        assert all(same_top1(a, b) for a, b in zip(want, got))
    difference = max(np.abs(a['pred_scores'] - b['pred_scores']).max()
                     for a, b in zip(want, got))
    assert difference < (1e-4 if kind == 'fp32' else 0.05)
    # another input size after the first: compiled again for that shape
    batch = np.stack([ort.preprocess(p) for p in photos[:2]])
    np.testing.assert_allclose(ov.logits(batch[:, :, :24, :24]),
                               ort.logits(batch[:, :, :24, :24]),
                               atol=1e-3 if kind == 'fp32' else 0.5)


def test_export_openvino_ir_keeps_metadata(models, tmp_path):
    _, int8, photos = models
    xml = tmp_path / 'ir' / 'm.xml'
    result = run([sys.executable, 'tools/deploy/export_openvino.py', int8,
                  '--out', str(xml), '--verify', *photos])
    assert (tmp_path / 'ir' / 'm.bin').is_file()
    assert f'OpenVINO top-1 agrees with onnxruntime on {len(photos)}/' \
        f'{len(photos)}' in result.stdout
    ir = Predictor(str(xml), backend='openvino')
    assert ir.classes == list(FRUIT30_CLASSES)
    assert ir.preprocess_cfg == Predictor(int8).preprocess_cfg

    bad = run([sys.executable, 'tools/deploy/export_openvino.py', int8,
               '--out', str(tmp_path / 'm.onnx')], check=False)
    assert bad.returncode == 1 and 'end in .xml' in bad.stdout


def test_unknown_backend_is_refused(models):
    with pytest.raises(ValueError, match="'onnxruntime' or 'openvino'"):
        Predictor(models[0], backend='tensorrt')


def test_same_top1_forgives_only_ties_within_the_runtimes_noise():
    want = dict(pred_label=0, pred_scores=np.array([0.50, 0.49, 0.01]))
    tie = dict(pred_label=1, pred_scores=np.array([0.49, 0.50, 0.01]))
    wrong = dict(pred_label=2, pred_scores=np.array([0.45, 0.49, 0.06]))
    assert same_top1(want, tie)
    assert not same_top1(want, wrong)  # scores gap 0.49, runtimes 0.05
