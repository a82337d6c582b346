"""int8 (QDQ) export calibrated through the config's test pipeline."""
import json
import re
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import run
from fruit_ext.apis.onnx_quantize import (META_QUANTIZATION, images_in, pick,
                                          quantize_onnx)
from fruit_ext.apis.predictor import Predictor
from test_infer_api import train_tiny_model, write_photo

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def exported(tmp_path_factory, fruit_tree):
    """The export tool with --int8 on a trained tiny MobileNetV2."""
    config, checkpoint = train_tiny_model(tmp_path_factory, fruit_tree)
    folder = tmp_path_factory.mktemp('int8')
    photos = [str(write_photo(folder / f'{i}.jpg', (72, 56), seed=i))
              for i in range(4)]
    out = folder / 'fruit.onnx'
    result = run([sys.executable, 'tools/deploy/export_onnx.py', str(config),
                  str(checkpoint), '--out', str(out), '--int8',
                  '--calib-n', '12', '--verify', *photos])
    return out, folder / 'fruit.int8.onnx', photos, result, (config,
                                                             checkpoint)


def test_int8_file_is_qdq_with_per_channel_int8_weights(exported):
    _, int8, _, result, _ = exported
    graph = onnx.load(str(int8))
    ops = [node.op_type for node in graph.graph.node]
    assert ops.count('QuantizeLinear') > 10
    assert ops.count('DequantizeLinear') > ops.count('QuantizeLinear')
    weights = {t.name: numpy_helper.to_array(t)
               for t in graph.graph.initializer}
    conv_inputs = {node.input[1] for node in graph.graph.node
                   if node.op_type == 'Conv'}
    dequantize = [node for node in graph.graph.node
                  if node.op_type == 'DequantizeLinear'
                  and node.output[0] in conv_inputs]
    assert dequantize, 'no Conv reads a dequantized weight'
    for node in dequantize:
        assert weights[node.input[0]].dtype == np.int8
        assert weights[node.input[1]].size > 1  # a scale per channel
    assert 'calibrated on 12 images of the val split' in result.stdout


def test_int8_keeps_metadata_and_runs_in_the_predictor(exported):
    fp32, int8, photos, _, _ = exported
    fp32_meta = {e.key: e.value for e in onnx.load(str(fp32)).metadata_props}
    int8_meta = {e.key: e.value for e in onnx.load(str(int8)).metadata_props}
    quantization = json.loads(int8_meta.pop(META_QUANTIZATION))
    assert int8_meta == fp32_meta
    assert quantization['format'] == 'QDQ'
    assert quantization['calibration_images'] == 12
    want, got = Predictor(str(fp32)), Predictor(str(int8))
    assert got.classes == want.classes
    a, b = want(photos), got(photos)
    scores = np.stack([r['pred_scores'] for r in a])
    assert np.abs(scores - np.stack([r['pred_scores'] for r in b])).max() \
        < 0.1
    assert (scores - scores[0]).std() > 0  # the images give other scores


def test_verify_reports_top1_agreement(exported):
    _, _, photos, result, _ = exported
    match = re.search(r'int8 top-1 agrees with fp32 on (\d+)/(\d+) images',
                      result.stdout)
    assert match and int(match.group(2)) == len(photos)
    assert int(match.group(1)) >= len(photos) - 1


def test_calibration_input_errors_are_clear(exported, tmp_path):
    fp32, _, _, _, (config, checkpoint) = exported
    with pytest.raises(ValueError, match='no images'):
        images_in(str(tmp_path))
    with pytest.raises(ValueError, match='not found'):
        images_in(str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='overwrite the fp32'):
        quantize_onnx(str(fp32), str(fp32), ['x.jpg'])
    assert pick(list('abcdef'), 3) == pick(list('abcdef'), 3)
    assert len(pick(list('abcdef'), 3)) == 3
    (tmp_path / 'empty').mkdir()
    result = run([sys.executable, 'tools/deploy/export_onnx.py', str(config),
                  str(checkpoint), '--out', str(tmp_path / 'm.onnx'),
                  '--int8', '--calib-dir', str(tmp_path / 'empty')],
                 check=False)
    assert result.returncode == 1
    assert f'{tmp_path / "empty"}: no images' in result.stdout
    assert not (tmp_path / 'm.int8.onnx').exists()
