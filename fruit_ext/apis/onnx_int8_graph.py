"""Graph edits that keep an int8 (QDQ) ONNX graph in one integer piece.

Models with TF-style "same" padding (EfficientNet-Lite0 from timm) compute
each Pad's amounts at run time from the tensor's size, in float ops. Left
alone, the quantizer quantizes some of that arithmetic (wrong padding) and
onnxruntime runs every Pad as ``DequantizeLinear -> Pad -> QuantizeLinear``
in float between layout transposes. :func:`padding_arithmetic` and
:func:`unshare_constants` prepare the fp32 graph for the quantizer;
:func:`pad_in_integers` edits its output. :func:`pad_channels` gives an
RGB stem the channel count onnxruntime's fast int8 kernels need. Used by
:func:`~fruit_ext.apis.onnx_quantize.quantize_onnx`.
"""
from typing import Dict, List, Set

import numpy as np
import onnx
from onnx import numpy_helper


def padding_arithmetic(model: onnx.ModelProto) -> Set[str]:
    """Names of the nodes that compute Pad amounts from tensor shapes.

    TF-style "same" padding (EfficientNet-Lite0 via timm) is exported as
    float arithmetic on ``Shape`` outputs feeding each Pad's ``pads``
    input: sizes, not activations, so it must stay exact.

    Args:
        model: The fp32 model.

    Returns:
        Node names upstream of the ``pads`` inputs, back to (and with)
        the ``Shape`` nodes.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    found: Set[str] = set()
    todo = [node.input[1] for node in model.graph.node
            if node.op_type == 'Pad' and len(node.input) > 1]
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in found:
            continue
        found.add(node.name)
        if node.op_type != 'Shape':
            todo.extend(node.input)
    return found


def unshare_constants(model: onnx.ModelProto, nodes: Set[str]) -> None:
    """Give ``nodes`` their own copies of constants they share with others.

    The exporter shares one constant (e.g. 0 or 6) between ReLU6's Clip and
    the padding arithmetic's Clip; once the ReLU6 side is quantized, the
    shared constant would reach the arithmetic through a DequantizeLinear.

    Args:
        model: Edited in place.
        nodes: Names of the nodes that get private copies.
    """
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    users: Dict[str, Set[str]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, set()).add(node.name)
    for node in graph.node:
        if node.name not in nodes:
            continue
        for i, name in enumerate(node.input):
            if name in initializers and users[name] - nodes:
                copy = onnx.TensorProto()
                copy.CopyFrom(initializers[name])
                copy.name = f'{name}/{node.name}'
                graph.initializer.append(copy)
                node.input[i] = copy.name


def pad_channels(model: onnx.ModelProto, multiple: int = 4) -> int:
    """Zero-pad the input channels of dense Convs to a multiple of 4.

    onnxruntime's x86 symmetric int8 convolution (MLAS ``MlasConvSym``,
    chosen in ``QLinearConv::PrePack`` when the weight zero point is 0)
    needs input channels in multiples of 4 (``MlasConvSymPackWSize``); an
    RGB stem fell back to im2col and the generic int8 GEMM, the slowest
    layer of MobileNetV2's int8 graph. A zero channel with zero weights
    leaves every output (and each channel's weight scale) unchanged.

    Args:
        model: The fp32 model (weights as initializers), edited in place.
        multiple: The channel multiple.

    Returns:
        How many Convs now read padded inputs.
    """
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    readers: Dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    count = 0
    for conv in [node for node in graph.node if node.op_type == 'Conv']:
        group = next((a.i for a in conv.attribute if a.name == 'group'), 1)
        weight = weights.get(conv.input[1])
        if (group != 1 or weight is None or readers[weight.name] != 1
                or weight.dims[1] % multiple == 0):
            continue
        values = numpy_helper.to_array(weight)
        extra = -values.shape[1] % multiple
        zeros = np.zeros((values.shape[0], extra) + values.shape[2:],
                         values.dtype)
        weight.CopyFrom(numpy_helper.from_array(
            np.concatenate([values, zeros], 1), weight.name))
        amounts = np.zeros(2 * values.ndim, np.int64)
        amounts[values.ndim + 1] = extra  # after the last channel
        pads = numpy_helper.from_array(amounts, f'{conv.name}/channel_pads')
        graph.initializer.append(pads)
        padded = f'{conv.input[0]}/channel_padded'
        index = list(graph.node).index(conv)
        graph.node.insert(index, onnx.helper.make_node(
            'Pad', [conv.input[0], pads.name], [padded],
            name=f'{conv.name}/channel_pad', mode='constant'))
        conv.input[0] = padded
        count += 1
    return count


def pad_in_integers(model: onnx.ModelProto) -> int:
    """Run zero Pads on the quantized tensor, without the Q/DQ pair.

    onnxruntime has no QDQ fusion for Pad: ``DequantizeLinear -> Pad ->
    QuantizeLinear`` ran in float between layout transposes (about 20 %
    of EfficientNet-Lite0's int8 time). Padding the uint8 tensor with its
    zero point gives the same values. ``Shape`` nodes also read the
    quantized tensor (same shape), so no DequantizeLinear runs for them.

    Args:
        model: A quantized model, edited in place.

    Returns:
        How many Pads now run on integers.
    """
    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: Dict[str, List[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {out.name for out in graph.output}
    dropped, count = set(), 0
    for pad in [node for node in graph.node if node.op_type == 'Pad']:
        dq = producer.get(pad.input[0])
        after = readers.get(pad.output[0], [])
        if (dq is None or dq.op_type != 'DequantizeLinear' or len(after) != 1
                or after[0].op_type != 'QuantizeLinear'
                or after[0].output[0] in outputs
                or not _same_params(dq, after[0], constants)
                or not _pads_zero(pad, producer, constants)):
            continue
        zero_name = f'{pad.name}/zero_point'
        graph.initializer.append(numpy_helper.from_array(
            constants[dq.input[2]].reshape(()), zero_name))
        pad.input[:] = [dq.input[0], pad.input[1], zero_name]
        for node in readers.get(after[0].output[0], []):
            node.input[:] = [pad.output[0] if name == after[0].output[0]
                             else name for name in node.input]
        dropped.add(after[0].name)
        count += 1
    for node in graph.node:
        source = producer.get(node.input[0]) if node.input else None
        if (node.op_type == 'Shape' and source is not None
                and source.op_type == 'DequantizeLinear'):
            node.input[0] = source.input[0]
    drop_nodes(graph, dropped)
    return count


def _same_params(dequantize: onnx.NodeProto, quantize: onnx.NodeProto,
                 constants: Dict[str, np.ndarray]) -> bool:
    """Whether a DequantizeLinear and a QuantizeLinear share scale and zero
    point (then the pair around a zero Pad is the identity)."""
    return all(
        a in constants and b in constants
        and np.array_equal(constants[a], constants[b])
        for a, b in zip(dequantize.input[1:3], quantize.input[1:3]))


def _pads_zero(pad: onnx.NodeProto, producer: Dict[str, onnx.NodeProto],
               constants: Dict[str, np.ndarray]) -> bool:
    """Whether a Pad pads with the constant 0 (read through the
    DequantizeLinear the quantizer puts on its ``constant_value``)."""
    mode = next((a.s for a in pad.attribute if a.name == 'mode'),
                b'constant')
    if mode != b'constant':
        return False
    if len(pad.input) < 3 or not pad.input[2]:
        return True
    name = pad.input[2]
    if name in constants:
        return float(constants[name]) == 0
    dq = producer.get(name)
    return (dq is not None and dq.op_type == 'DequantizeLinear'
            and dq.input[0] in constants and dq.input[2] in constants
            and np.array_equal(constants[dq.input[0]],
                               constants[dq.input[2]]))


def drop_nodes(graph: onnx.GraphProto, names: Set[str]) -> None:
    """Remove nodes by name, then every node and initializer nothing reads
    any more (e.g. a dropped Pad's DequantizeLinear or size arithmetic), and
    stale value_info (types changed)."""
    nodes = [node for node in graph.node if node.name not in names]
    outputs = {out.name for out in graph.output}
    while True:
        used = {name for node in nodes for name in node.input} | outputs
        kept = [node for node in nodes
                if any(out in used for out in node.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del graph.node[:]
    graph.node.extend(nodes)
    kept_initializers = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_initializers)
    del graph.value_info[:]
