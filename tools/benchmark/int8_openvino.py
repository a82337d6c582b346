#!/usr/bin/env python
"""CPU inference: fp32 vs int8 (QDQ), ONNX Runtime vs OpenVINO, batch 1.

Two models: MobileNetV2 (``configs/mobilenet-v2_fruit.py``; random weights
with BatchNorm statistics measured on the calibration images, unless
``--mbv2-checkpoint``: speed does not depend on the weights) and a
fine-tuned EfficientNet-Lite0 (``--effl0-config`` / ``--effl0-checkpoint``,
e.g. seed 0's fp32 run of ``cpu_fast_path.py``). Each is exported with
``export_onnx`` and quantized with ``quantize_onnx`` on ``--calib-n``
images of the Fashion-MNIST val split, through the model's own test
pipeline. Speed: one preprocessed image at each ``--sizes`` side, batch 1,
1 thread, the four (runtime, precision) settings timed in turn in every
repeat (so load hits them alike), ``--block`` calls each: median images/s
in steady state and on the first call after a switch (cold caches). A
graph whose padding depends on the input size (EfficientNet-Lite0) is
timed as ``export_onnx`` writes it for a pipeline of that size (padding
fixed and folded, :func:`fixed_pair`) and, as ``... (any size)``, as
exported for any size. Accuracy: the
fine-tuned EfficientNet-Lite0 on the whole Fashion-MNIST test file (or
``--test-per-class``), all four settings on the same preprocessed arrays.
Where the time goes: onnxruntime's own profiler on each model at the first
``--sizes`` side, fp32 and int8, time per convolution kind (depthwise or
dense, kernel, stride) and per other op, written beside the figures.

Example (about 15 minutes on 2 busy cores)::

    python tools/benchmark/int8_openvino.py \\
        --effl0-config work_dirs/fast_path/runs/fp32_seed0/config.py \\
        --effl0-checkpoint work_dirs/fast_path/runs/fp32_seed0/epoch_5.pth
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import onnx
import onnxruntime as ort

from fruit_ext.apis.onnx_export import export_onnx, preprocess_spec
from fruit_ext.apis.onnx_quantize import images_in, pick, quantize_onnx
from fruit_ext.apis.onnx_static_pads import (fix_input_size,
                                             pipeline_output_size)
from fruit_ext.apis.openvino_backend import OpenVINOSession
from fruit_ext.apis.predictor import Predictor

DATA = 'work_dirs/finetune_real/data/bal_0_n50_v20_t1000'
SETTINGS = ('ONNX Runtime fp32', 'ONNX Runtime int8', 'OpenVINO fp32',
            'OpenVINO int8')


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--data', default=DATA, help='Fashion-MNIST export '
                        '(val/ calibrates, test/ is scored)')
    parser.add_argument('--effl0-config', required=True,
                        help='fine-tuned EfficientNet-Lite0 config')
    parser.add_argument('--effl0-checkpoint', required=True,
                        help='its checkpoint')
    parser.add_argument('--mbv2-checkpoint',
                        help='MobileNetV2 checkpoint (none: random '
                        'weights, speed only)')
    parser.add_argument('--calib-n', type=int, default=200,
                        help='calibration images for int8')
    parser.add_argument('--sizes', nargs='+', type=int, default=[224],
                        help='input sizes to time')
    parser.add_argument('--repeats', type=int, default=100,
                        help='rounds of timing per case (median reported)')
    parser.add_argument('--block', type=int, default=10,
                        help='calls of one setting in a row per round (the '
                        'first after a switch is reported as cold)')
    parser.add_argument('--test-per-class', type=int, default=0,
                        help='0: the whole test split')
    parser.add_argument('--out', default='work_dirs/int8_openvino',
                        help='models and results')
    args = parser.parse_args()
    if args.block < 2:
        parser.error('--block must be at least 2: the first call of each '
                     'block is timed apart as the cold call')
    return args


def sessions(fp32: str, int8: str, free: Optional[Tuple[str, str]] = None
             ) -> Dict[str, Callable]:
    """One-thread inference functions ``batch -> logits`` per setting;
    with ``free`` (the pair before :func:`fixed_pair`), onnxruntime on
    those too, as ``... (any size)``."""
    options = session_options()
    runs = {}
    for name, path in (('fp32', fp32), ('int8', int8)):
        session = ort.InferenceSession(path, options,
                                       providers=['CPUExecutionProvider'])
        runs[f'ONNX Runtime {name}'] = (
            lambda x, s=session: s.run(None, {'input': x})[0])
        vino = OpenVINOSession(path, num_threads=1)
        runs[f'OpenVINO {name}'] = (
            lambda x, s=vino: s.run(None, {'input': x})[0])
    for name, path in zip(('fp32', 'int8'), free or ()):
        session = ort.InferenceSession(path, options,
                                       providers=['CPUExecutionProvider'])
        runs[f'ONNX Runtime {name} (any size)'] = (
            lambda x, s=session: s.run(None, {'input': x})[0])
    return runs


def fixed_pair(pair: Tuple[str, str], height: int, width: int
               ) -> Tuple[str, str]:
    """The fp32 and int8 files with size-dependent padding fixed for
    height x width, as ``export_onnx`` writes them for a test pipeline of that
    size (the int8 one is fixed after quantization, so its stem's spatial
    Pad stays a uint8 Pad); the pair itself when it has no such padding."""
    fixed = []
    for path in pair:
        model = onnx.load(path)
        if not fix_input_size(model, height, width):
            return pair
        fixed.append(f'{osp.splitext(path)[0]}_{height}x{width}.onnx')
        onnx.save(model, fixed[-1])
    return fixed[0], fixed[1]


def session_options() -> ort.SessionOptions:
    """One thread, every graph optimisation (fp32 and int8 alike)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    return options


def op_profile(path: str, size: int, runs: int = 50) -> Dict[str, float]:
    """Microseconds per image of each op kind, from onnxruntime's profiler.

    Convolutions are split by kind ('Conv 3x3/2 depthwise', ...) so fp32
    and int8 can be compared layer type by layer type.
    """
    options = session_options()
    options.enable_profiling = True
    options.profile_file_prefix = osp.splitext(path)[0] + '_profile'
    optimized = osp.splitext(path)[0] + '_optimized.onnx'
    options.optimized_model_filepath = optimized
    session = ort.InferenceSession(path, options,
                                   providers=['CPUExecutionProvider'])
    x = np.random.default_rng(0).standard_normal(
        (1, 3, size, size)).astype(np.float32)
    for _ in range(runs):
        session.run(None, {'input': x})
    trace = session.end_profiling()
    with open(trace) as file:
        events = json.load(file)
    os.remove(trace)
    kinds = {}
    for node in onnx.load(optimized).graph.node:
        if node.op_type in ('Conv', 'QLinearConv', 'FusedConv'):
            attr = {a.name: onnx.helper.get_attribute_value(a)
                    for a in node.attribute}
            kernel = attr.get('kernel_shape', [0])[0]
            stride = attr.get('strides', [1])[0]
            kind = 'depthwise' if attr.get('group', 1) > 1 else 'dense'
            kinds[node.name] = f'Conv {kernel}x{kernel}/{stride} {kind}'
    times: Dict[str, float] = {}
    for event in events:
        if event.get('cat') == 'Node' and event['name'].endswith(
                '_kernel_time'):
            name = event['name'][:-len('_kernel_time')]
            kind = kinds.get(name, event['args']['op_name'])
            times[kind] = times.get(kind, 0.0) + event['dur'] / runs
    return times


def export_pair(config: str, checkpoint, out: str, calib: List[str]):
    """fp32 and int8 ONNX files of a model; returns their paths."""
    from fruit_ext.apis.inference import init_model
    model = init_model(config, checkpoint, device='cpu')
    classes = (model._dataset_meta or {}).get('classes') or [
        str(i) for i in range(model.head.num_classes)]
    spec = preprocess_spec(model._config, model)
    fp32 = export_onnx(model, out + '.onnx', classes, spec, fix_size=False)
    if checkpoint is None:  # random weights: give them real activations
        reestimate_bn(model, Predictor(fp32), calib)
        fp32 = export_onnx(model, out + '.onnx', classes, spec,
                           fix_size=False)
    start = time.perf_counter()
    int8 = quantize_onnx(fp32, out + '.int8.onnx', calib)
    print(f'{osp.basename(out)}: quantized in '
          f'{time.perf_counter() - start:.0f} s', flush=True)
    return fp32, int8


def reestimate_bn(model, predictor: Predictor, images: List[str]) -> None:
    """BatchNorm statistics of a randomly initialised model measured on
    real images, so its activations (and their int8 ranges) are realistic:
    with the init's statistics they vanish layer by layer."""
    import torch
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average
    batch = torch.from_numpy(np.stack([predictor.preprocess(f)
                                       for f in images[:64]]))
    model.train()
    with torch.no_grad():
        for i in range(0, len(batch), 16):
            model(batch[i:i + 16], mode='tensor')
    model.eval()


def speed(runs: Dict[str, Callable], x: np.ndarray, repeats: int,
          block: int) -> Dict:
    """Images/s of each setting and its speed-up over ONNX Runtime fp32.

    Every repeat runs each setting ``block`` times in a row. The first
    call after a switch finds the caches full of the other models (its
    figures are reported as ``cold``); the others are what a process
    serving one model sees (images/s: median over repeats of each block's
    median). Speed-ups are the median of each repeat's own ratio: a
    repeat's blocks are milliseconds apart, so other processes' load hits
    them alike even when it moves single timings 2-3x.
    """
    steady: Dict[str, List[float]] = {name: [] for name in runs}
    cold: Dict[str, List[float]] = {name: [] for name in runs}
    for i in range(repeats + 2):
        for name, run in runs.items():
            calls = []
            for _ in range(block):
                start = time.perf_counter()
                run(x)
                calls.append(time.perf_counter() - start)
            if i >= 2:  # warm-up
                cold[name].append(calls[0])
                steady[name].append(float(np.median(calls[1:])))
    result = {}
    for suffix, times in (('', steady), (', cold', cold)):
        base = np.array(times[SETTINGS[0]])
        for name, seconds in times.items():
            result[name + suffix] = 1 / float(np.median(seconds))
            if name != SETTINGS[0]:
                result[f'{name} / fp32{suffix}'] = float(
                    np.median(base / np.array(seconds)))
    return result


def accuracy(runs: Dict[str, Callable], predictor: Predictor,
             files: List[str]) -> Dict:
    """Top-1 (%) of each setting on labelled files (label = folder)."""
    classes = sorted({osp.basename(osp.dirname(f)) for f in files})
    labels = np.array([classes.index(osp.basename(osp.dirname(f)))
                       for f in files])
    inputs = np.stack([predictor.preprocess(f) for f in files])
    result = {}
    for name, run in runs.items():
        logits = np.concatenate([run(inputs[i:i + 50])
                                 for i in range(0, len(inputs), 50)])
        result[name] = 100 * float((logits.argmax(1) == labels).mean())
    return result


def main() -> None:
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    load = [os.getloadavg()[0]]
    calib = pick(images_in(osp.join(args.data, 'val')), args.calib_n)
    test = images_in(osp.join(args.data, 'test'))
    if args.test_per_class:
        by_class: Dict[str, List[str]] = {}
        for f in test:
            by_class.setdefault(osp.dirname(f), []).append(f)
        test = [f for fs in by_class.values()
                for f in fs[:args.test_per_class]]
    models = {
        'MobileNetV2': export_pair('configs/mobilenet-v2_fruit.py',
                                   args.mbv2_checkpoint,
                                   osp.join(args.out, 'mbv2'), calib),
        'EfficientNet-Lite0 (fine-tuned)': export_pair(
            args.effl0_config, args.effl0_checkpoint,
            osp.join(args.out, 'effl0'), calib)}
    figures = dict(speed={}, load=load)
    for name, pair in models.items():
        for size in args.sizes:
            fixed = fixed_pair(pair, size, size)
            runs = sessions(*fixed, free=pair if fixed != pair else None)
            x = np.random.default_rng(0).standard_normal(
                (1, 3, size, size)).astype(np.float32)
            figures['speed'][f'{name} {size} px'] = speed(
                runs, x, args.repeats, args.block)
            print(name, size, figures['speed'][f'{name} {size} px'],
                  flush=True)
        load.append(os.getloadavg()[0])
    figures['profile_us'] = {
        f'{name} {args.sizes[0]} px {precision}': op_profile(
            path, args.sizes[0])
        for name, pair in models.items()
        for precision, path in zip(('fp32', 'int8'),
                                   fixed_pair(pair, args.sizes[0],
                                              args.sizes[0]))}
    effl0 = models['EfficientNet-Lite0 (fine-tuned)']
    predictor = Predictor(effl0[0])
    own_size = pipeline_output_size(predictor.preprocess_cfg['steps'])
    figures['top1'] = accuracy(
        sessions(*fixed_pair(effl0, *own_size) if own_size else effl0),
        predictor, test)
    figures['test_images'] = len(test)
    figures['calib_images'] = len(calib)
    load.append(os.getloadavg()[0])
    print(json.dumps(figures, indent=1))
    with open(osp.join(args.out, 'figures.json'), 'w') as file:
        json.dump(figures, file, indent=1)


if __name__ == '__main__':
    main()
