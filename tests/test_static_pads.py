"""Size-dependent padding fixed at the test pipeline's size on export."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from fruit_ext.apis.onnx_quantize import quantize_onnx
from fruit_ext.apis.onnx_static_pads import (fix_input_size,
                                             pipeline_output_size)
from fruit_ext.apis.predictor import Predictor
from test_infer_api import write_photo

pytestmark = pytest.mark.usefixtures('one_thread')


def edge(size, which='short'):
    return dict(type='resize_edge', size=size, edge=which)


def crop(width, height):
    return dict(type='center_crop', size=[width, height])


@pytest.mark.parametrize('steps, expected', [
    ([edge(256), crop(224, 224)], (224, 224)),
    ([edge(72), crop(64, 48)], (48, 64)),  # (height, width)
    ([dict(type='resize', size=[100, 50])], (50, 100)),
    ([dict(type='resize', size=[100, 50]), crop(64, 64)], (50, 64)),
    ([edge(256)], None),  # the long side varies
    ([edge(200), crop(224, 224)], None),  # a short side of 200 < 224
    ([edge(256, 'long'), crop(224, 224)], None),
    ([], None),
])
def test_pipeline_output_size(steps, expected):
    assert pipeline_output_size(steps) == expected


def dims(path):
    shape = onnx.load(str(path)).graph.input[0].type.tensor_type.shape
    return [d.dim_param or d.dim_value for d in shape.dim]


def session(path):
    return ort.InferenceSession(str(path),
                                providers=['CPUExecutionProvider'])


@pytest.fixture(scope='module')
def effl0(tmp_path_factory):
    """EfficientNet-Lite0 (TF "same" padding, random weights) exported as
    is (224 px test pipeline) and with any size allowed."""
    from fruit_ext.apis.inference import init_model
    from fruit_ext.apis.onnx_export import export_onnx, preprocess_spec
    folder = tmp_path_factory.mktemp('static_pads')
    model = init_model('configs/efficientnet-lite0_fruit.py', device='cpu')
    classes = [f'c{i}' for i in range(model.head.num_classes)]
    spec = preprocess_spec(model._config, model)
    fixed, free = (export_onnx(model, str(folder / name), classes, spec,
                               sample_size=(64, 64), fix_size=fix)
                   for name, fix in (('fixed.onnx', True),
                                     ('free.onnx', False)))
    return folder, fixed, free


def test_export_fixes_the_size_and_folds_the_padding(effl0):
    folder, fixed, free = effl0
    assert dims(free) == ['batch', 3, 'height', 'width']
    assert dims(fixed) == ['batch', 3, 224, 224]
    ops = [node.op_type for node in onnx.load(fixed).graph.node]
    assert 'Pad' not in ops and 'Ceil' not in ops
    assert ops.count('Conv') == 49
    x = np.random.default_rng(0).standard_normal(
        (2, 3, 224, 224)).astype(np.float32)
    want = session(free).run(None, {'input': x})[0]
    got = session(fixed).run(None, {'input': x})[0]
    assert want.std() > 0
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    with pytest.raises(Exception, match='Expected: 224'):  # not padded wrong
        session(fixed).run(None, {'input': x[:, :, :200, :200]})
    photo = str(write_photo(folder / 'photo.jpg', (300, 260), seed=1))
    predictor = Predictor(fixed)
    pixels = predictor.preprocess(photo)
    assert pixels.shape == (3, 224, 224)
    np.testing.assert_allclose(
        predictor.logits(pixels[None]),
        session(free).run(None, {'input': pixels[None]})[0], atol=1e-4)


def test_int8_of_a_fixed_graph_has_no_size_arithmetic(effl0):
    folder, fixed, _ = effl0
    photos = [str(write_photo(folder / f'{i}.jpg', (260, 240), seed=i))
              for i in range(4)]
    int8 = quantize_onnx(fixed, str(folder / 'fixed.int8.onnx'), photos)
    graph = onnx.load(int8).graph
    ops = [node.op_type for node in graph.node]
    assert 'Ceil' not in ops and 'Shape' not in ops
    assert ops.count('Pad') == 1  # the stem's 4th channel only
    assert dims(int8) == ['batch', 3, 224, 224]
    x = np.stack([Predictor(fixed).preprocess(p) for p in photos])
    fp32_logits = session(fixed).run(None, {'input': x})[0]
    int8_logits = session(int8).run(None, {'input': x})[0]
    assert np.corrcoef(fp32_logits.ravel(), int8_logits.ravel())[0, 1] > 0.95


@pytest.mark.parametrize('size', [64, 75])
def test_fixing_keeps_the_outputs_at_even_and_odd_sizes(effl0, size):
    """The amounts differ between odd and even sizes. The benchmark also
    fixes int8 graphs quantized with any size allowed: their uint8 Pads
    fold into the convolutions through the DequantizeLinear."""
    folder, _, free = effl0
    photos = [str(write_photo(folder / f'q{i}.jpg', (260, 240), seed=i))
              for i in range(3)]
    int8 = quantize_onnx(free, str(folder / f'free{size}.int8.onnx'), photos)
    x = np.random.default_rng(size).standard_normal(
        (2, 3, size, size)).astype(np.float32)
    for path, tolerance in ((free, 1e-5), (int8, 0)):
        model = onnx.load(path)
        pads_before = [n for n in model.graph.node if n.op_type == 'Pad']
        assert fix_input_size(model, size, size) == 5
        pads_after = [n for n in model.graph.node if n.op_type == 'Pad']
        assert len(pads_after) < len(pads_before)
        want = session(path).run(None, {'input': x})[0]
        got = ort.InferenceSession(model.SerializeToString(),
                                   providers=['CPUExecutionProvider']).run(
            None, {'input': x})[0]
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance)


def test_graphs_without_size_dependent_padding_stay_dynamic(tmp_path):
    node = onnx.helper.make_node('Pad', ['x', 'pads'], ['y'])
    graph = onnx.helper.make_graph(
        [node], 'g',
        [onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT,
                                            ['n', 3, 'h', 'w'])],
        [onnx.helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT,
                                            None)],
        [onnx.numpy_helper.from_array(
            np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), 'pads')])
    model = onnx.helper.make_model(graph)
    assert fix_input_size(model, 32, 32) == 0
    shape = model.graph.input[0].type.tensor_type.shape
    assert [d.dim_param for d in shape.dim[2:]] == ['h', 'w']


def test_a_pad_value_computed_at_run_time_is_not_folded():
    """Only a known zero (or zero-point) Pad may join the convolution."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    nodes = [
        helper.make_node('Shape', ['x'], ['shape']),
        helper.make_node('Slice', ['shape', 'two', 'four'], ['hw']),
        helper.make_node('Mod', ['hw', 'two'], ['odd']),
        helper.make_node('Concat', ['zeros', 'odd', 'zeros', 'odd'],
                         ['pads'], axis=0),
        helper.make_node('ReduceMax', ['x'], ['value'], keepdims=0),
        helper.make_node('Pad', ['x', 'pads', 'value'], ['padded']),
        helper.make_node('Conv', ['padded', 'w'], ['y'], strides=[2, 2],
                         kernel_shape=[3, 3])]
    constants = [numpy_helper.from_array(np.array(v, np.int64), name)
                 for name, v in (('two', [2]), ('four', [4]),
                                 ('zeros', [0, 0]))]
    constants.append(numpy_helper.from_array(
        np.ones((2, 3, 3, 3), np.float32), 'w'))
    graph = helper.make_graph(
        nodes, 'g',
        [helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT,
                                       ['n', 3, 'h', 'w'])],
        [helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT,
                                       ['n', 2, 'a', 'b'])],
        constants)
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid('', 17)])
    x = np.random.default_rng(0).random((1, 3, 9, 9)).astype(np.float32) + 1
    want = ort.InferenceSession(model.SerializeToString()).run(
        None, {'x': x})[0]
    assert fix_input_size(model, 9, 9) == 1
    assert 'Pad' in [node.op_type for node in model.graph.node]
    got = ort.InferenceSession(model.SerializeToString()).run(
        None, {'x': x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-6)
