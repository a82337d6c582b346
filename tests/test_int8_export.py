"""int8 (QDQ) export calibrated through the config's test pipeline."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from conftest import run
from fruit_ext.apis.onnx_int8_graph import (pad_channels, pad_in_integers,
                                            padding_arithmetic)
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


def test_dense_int8_convs_meet_the_symmetric_kernel_conditions(exported,
                                                              tmp_path):
    """onnxruntime picks MLAS's fast symmetric int8 convolution only for
    int8 weights with zero point 0 and input channels in multiples of 4;
    the RGB stem gets a zero 4th channel for that."""
    _, int8, _, _, _ = exported
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / 'optimized.onnx')
    ort.InferenceSession(str(int8), options,
                         providers=['CPUExecutionProvider'])
    graph = onnx.load(options.optimized_model_filepath).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs = [node for node in graph.node if node.op_type == 'QLinearConv']
    dense = [node for node in convs if all(
        a.i == 1 for a in node.attribute if a.name == 'group')]
    assert len(dense) > 5 and len(convs) > len(dense)
    for node in dense:
        weight = constants[node.input[3]]
        assert weight.dtype == np.int8 and weight.shape[1] % 4 == 0
        assert not constants[node.input[5]].any()  # weight zero points
    stem = dense[0]
    assert constants[stem.input[3]].shape[1] == 4
    assert not constants[stem.input[3]][:, 3].any()


def test_pad_channels_keeps_the_outputs():
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(
        rng.standard_normal(shape).astype(np.float32), name)
        for name, shape in (('w', (8, 3, 3, 3)), ('dw', (8, 1, 3, 3)))]
    nodes = [helper.make_node('Conv', ['x', 'w'], ['a'], name='stem',
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node('Conv', ['a', 'dw'], ['y'], name='dw', group=8)]
    graph = helper.make_graph(
        nodes, 'convs',
        [helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT,
                                       [1, 3, 9, 9])],
        [helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT,
                                       [1, 8, 3, 3])],
        weights)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid('', 17)])
    x = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None,
                                                               {'x': x})[0]
    assert pad_channels(model) == 1  # not the depthwise one
    onnx.checker.check_model(model)
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    assert shapes['w'] == [8, 4, 3, 3] and shapes['dw'] == [8, 1, 3, 3]
    got = ort.InferenceSession(model.SerializeToString()).run(None,
                                                              {'x': x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


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


def test_pad_in_integers_gives_the_same_values():
    """DequantizeLinear -> zero Pad -> QuantizeLinear == Pad of the uint8
    tensor with its zero point (bit for bit), and Shape reads uint8."""
    scale = numpy_helper.from_array(np.array(0.05, np.float32), 'scale')
    zero = numpy_helper.from_array(np.array(37, np.uint8), 'zero')
    pads = numpy_helper.from_array(np.array([0, 0, 0, 1, 0, 0, 1, 2]),
                                   'pads')
    nodes = [
        helper.make_node('DequantizeLinear', ['x', 'scale', 'zero'], ['f'],
                         name='dq'),
        helper.make_node('Pad', ['f', 'pads'], ['p'], name='pad'),
        helper.make_node('Shape', ['f'], ['shape'], name='shape'),
        helper.make_node('QuantizeLinear', ['p', 'scale', 'zero'], ['q'],
                         name='q'),
        helper.make_node('DequantizeLinear', ['q', 'scale', 'zero'], ['y'],
                         name='out')]
    graph = helper.make_graph(
        nodes, 'pad', [helper.make_tensor_value_info(
            'x', onnx.TensorProto.UINT8, [1, 2, 3, 4])],
        [helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT,
                                       [1, 2, 4, 7]),
         helper.make_tensor_value_info('shape', onnx.TensorProto.INT64,
                                       [4])],
        [scale, zero, pads])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid('', 17)])
    x = np.random.default_rng(0).integers(0, 256, (1, 2, 3, 4), np.uint8)
    want = ort.InferenceSession(model.SerializeToString()).run(None,
                                                               {'x': x})
    assert pad_in_integers(model) == 1
    ops = [node.op_type for node in model.graph.node]
    assert ops == ['Pad', 'Shape', 'DequantizeLinear']
    onnx.checker.check_model(model)
    got = ort.InferenceSession(model.SerializeToString()).run(None, {'x': x})
    assert want[0].shape == (1, 2, 4, 7)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.fixture(scope='module')
def effl0_int8(tmp_path_factory):
    """EfficientNet-Lite0 (timm, TF "same" padding; random weights) as fp32
    and int8 ONNX of any size (``fix_size=False``), calibrated on a few
    photos."""
    from fruit_ext.apis.inference import init_model
    from fruit_ext.apis.onnx_export import export_onnx, preprocess_spec
    folder = tmp_path_factory.mktemp('effl0')
    model = init_model('configs/efficientnet-lite0_fruit.py', device='cpu')
    classes = [f'c{i}' for i in range(model.head.num_classes)]
    fp32 = export_onnx(model, str(folder / 'effl0.onnx'), classes,
                       preprocess_spec(model._config, model),
                       sample_size=(64, 64), fix_size=False)
    photos = [str(write_photo(folder / f'{i}.jpg', (80, 72), seed=i))
              for i in range(6)]
    return fp32, quantize_onnx(fp32, str(folder / 'effl0.int8.onnx'),
                               photos)


def test_padding_stays_float_and_pads_run_on_integers(effl0_int8):
    fp32_file, int8_file = effl0_int8
    fp32, int8 = onnx.load(fp32_file), onnx.load(int8_file)
    arithmetic = padding_arithmetic(fp32)
    assert any(name.endswith('Ceil') for name in arithmetic)
    producer = {out: node for node in int8.graph.node for out in node.output}
    pads = [node for node in int8.graph.node if node.op_type == 'Pad']
    # the stem's, the 4 stride-2 blocks' and the stem's 4th channel
    assert len(pads) == 6
    for pad in pads:  # pads a uint8 tensor (Quantize- or stem's Pad output)
        assert producer[pad.input[0]].op_type in ('QuantizeLinear', 'Pad')
    for node in int8.graph.node:  # the size arithmetic reads no int8 value
        if node.op_type in ('Ceil', 'Div', 'Sub', 'Cast', 'Shape'):
            assert all(producer[name].op_type != 'DequantizeLinear'
                       for name in node.input if name in producer)
    meta = {e.key: e.value for e in int8.metadata_props}
    assert json.loads(meta[META_QUANTIZATION])['integer_pads'] == 6


@pytest.mark.parametrize('size', [64, 75])
def test_int8_effl0_follows_fp32_at_odd_and_even_sizes(effl0_int8, size):
    """The padding differs between odd and even sizes: int8 must follow."""
    fp32_file, int8_file = effl0_int8
    predictor = Predictor(fp32_file)
    photos = sorted(str(p) for p in Path(fp32_file).parent.glob('*.jpg'))
    x = np.stack([predictor.preprocess(photo)[:, :size, :size]
                  for photo in photos])
    fp32, int8 = (ort.InferenceSession(
        path, providers=['CPUExecutionProvider']).run(None, {'input': x})[0]
        for path in effl0_int8)
    assert fp32.shape == int8.shape and fp32.std() > 0
    assert np.corrcoef(fp32.ravel(), int8.ravel())[0, 1] > 0.95
