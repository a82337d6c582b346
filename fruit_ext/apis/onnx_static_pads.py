"""Fix an ONNX graph's input size so size-dependent Pads become constants.

TF-style "same" padding (EfficientNet-Lite0 via timm) is exported as float
arithmetic on ``Shape`` outputs in front of each stride-2 convolution's Pad
(about 180 small ops), and a Pad with run-time amounts keeps onnxruntime
from fusing it into the convolution: fp32 then also converts layouts
around every Pad. When the test pipeline always yields one size, the
amounts are constants: :func:`fix_input_size` computes them once, folds
each zero Pad into its convolution's ``pads`` and makes the input's height
and width static, so another size is refused instead of padded wrongly.
Measured effect: docs/benchmarks.md#int8-and-openvino-batch-1-1-thread.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from .onnx_int8_graph import drop_nodes


def pipeline_output_size(steps: Sequence[Dict]) -> Optional[Tuple[int, int]]:
    """(height, width) every image has after the predictor's steps.

    Args:
        steps: ``preprocess_spec(...)['steps']``.

    Returns:
        The size, or None when it depends on the image (e.g. ``ResizeEdge``
        without a crop, or a crop larger than a resized side can be).
    """
    size: Optional[Tuple[int, int]] = None  # (width, height)
    shortest = 0  # smallest side guaranteed by a short-edge resize
    for step in steps:
        if step['type'] == 'resize':
            size, shortest = tuple(step['size']), 0
        elif step['type'] == 'resize_edge':
            size = None
            shortest = step['size'] if step['edge'] == 'short' else 0
        elif step['type'] == 'center_crop':
            width, height = step['size']
            if size is not None:  # crops clip to the image
                size = (min(width, size[0]), min(height, size[1]))
            elif shortest >= max(width, height):
                size = (width, height)
            shortest = 0
    return None if size is None else (size[1], size[0])


def fix_input_size(model: onnx.ModelProto, height: int, width: int) -> int:
    """Make shape-computed Pads constant for one input size, in place.

    Does nothing to graphs without such Pads (their size stays dynamic).

    Args:
        model: An fp32 or QDQ model reading ``(N, C, H, W)``.
        height: The only input height it will get.
        width: The only input width.

    Returns:
        How many Pads were made constant (0: the graph is unchanged).
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    pads = [node for node in graph.node if node.op_type == 'Pad'
            and len(node.input) > 1
            and _reads_a_shape(producer, node.input[1])]
    if not pads:
        return 0
    for index, node in enumerate(graph.node):  # nodes are dropped by name
        node.name = node.name or f'fix_input_size/{node.op_type}_{index}'
    amounts = _evaluate(model, [pad.input[1] for pad in pads], height, width)
    for pad, value in zip(pads, amounts):
        name = f'{pad.name}/fixed_pads'
        graph.initializer.append(numpy_helper.from_array(value, name))
        pad.input[1] = name
    readers = _readers(graph)
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants.update(_constant_nodes(graph))
    folded = {pad.name for pad in pads
              if _fold_into_conv(pad, readers, constants)}
    drop_nodes(graph, folded)
    dims = graph.input[0].type.tensor_type.shape.dim
    for dim, value in ((dims[2], height), (dims[3], width)):
        dim.Clear()
        dim.dim_value = value
    onnx.checker.check_model(model)
    return len(pads)


def _reads_a_shape(producer: Dict[str, onnx.NodeProto], name: str) -> bool:
    """Whether a tensor is computed from some tensor's ``Shape``."""
    todo, seen = [name], set()
    while todo:
        node = producer.get(todo.pop())
        if node is None or id(node) in seen:
            continue
        if node.op_type == 'Shape':
            return True
        seen.add(id(node))
        todo.extend(node.input)
    return False


def _evaluate(model: onnx.ModelProto, names: List[str], height: int,
              width: int) -> List[np.ndarray]:
    """Values of intermediate tensors for a zero input of that size."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(
        name, onnx.TensorProto.INT64, None) for name in names)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    zeros = np.zeros((1, dims[1].dim_value, height, width), np.float32)
    session = ort.InferenceSession(probe.SerializeToString(),
                                   providers=['CPUExecutionProvider'])
    return session.run(names, {model.graph.input[0].name: zeros})


def _fold_into_conv(pad: onnx.NodeProto,
                    readers: Dict[str, List[onnx.NodeProto]],
                    constants: Dict[str, np.ndarray]) -> bool:
    """Move a constant zero Pad of H and W into the Conv it feeds, directly
    (fp32) or through a DequantizeLinear whose zero point it pads with."""
    amounts = constants[pad.input[1]]
    mode = next((a.s for a in pad.attribute if a.name == 'mode'),
                b'constant')
    after = readers.get(pad.output[0], [])
    if (mode != b'constant' or len(pad.input) > 3 or len(amounts) != 8
            or amounts[[0, 1, 4, 5]].any() or len(after) != 1):
        return False
    value_name = pad.input[2] if len(pad.input) > 2 else ''
    if value_name and value_name not in constants:
        return False  # a value computed at run time: leave the Pad
    value = constants.get(value_name)
    dequantize = after[0] if after[0].op_type == 'DequantizeLinear' else None
    if dequantize is not None:
        zero = (constants.get(dequantize.input[2])
                if len(dequantize.input) > 2 else None)
        after = readers.get(dequantize.output[0], [])
        if (value is None or zero is None or zero.size != 1
                or not np.array_equal(value.reshape(()), zero.reshape(()))
                or len(after) != 1):
            return False
    elif value is not None and value.reshape(()) != 0:
        return False
    conv = after[0]
    attributes = {a.name: a for a in conv.attribute}
    if conv.op_type != 'Conv' or (
            'auto_pad' in attributes
            and attributes['auto_pad'].s not in (b'', b'NOTSET')):
        return False
    old = list(attributes['pads'].ints) if 'pads' in attributes else [0] * 4
    new = [old[0] + amounts[2], old[1] + amounts[3], old[2] + amounts[6],
           old[3] + amounts[7]]
    if 'pads' in attributes:
        conv.attribute.remove(attributes['pads'])
    conv.attribute.append(onnx.helper.make_attribute(
        'pads', [int(v) for v in new]))
    (dequantize or conv).input[0] = pad.input[0]
    return True


def _readers(graph: onnx.GraphProto) -> Dict[str, List[onnx.NodeProto]]:
    readers: Dict[str, List[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def _constant_nodes(graph: onnx.GraphProto) -> Dict[str, np.ndarray]:
    return {node.output[0]: numpy_helper.to_array(node.attribute[0].t)
            for node in graph.node if node.op_type == 'Constant'
            and node.attribute and node.attribute[0].name == 'value'}
