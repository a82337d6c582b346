"""CPU inference speed: PyTorch eager vs ONNX Runtime, batch 1 and 32.

    python tools/benchmark/inference.py [--config CFG] [--checkpoint CKPT]
        [--images IMG ...] [--batch-sizes 1 32] [--threads 1 2]
        [--repeats 15]

Real photos go through the config's test pipeline (224 px for the fruit
config) and are repeated to fill each batch. The model is exported to ONNX
once; then every repeat times each (runtime, batch size, threads) setting
once, in turn, so load from other processes hits all of them alike. Both
runtimes get the same number of intra-op threads. Prints images/s, batch
latency (median and p95) and per-image latency as a Markdown table, with the
machine described. Preprocessing is not timed.
"""
import argparse
import os
import platform
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import numpy as np
import onnxruntime as ort
import torch
from mmengine.config import Config
from mmpretrain.apis import get_model

from fruit_ext.apis import export_onnx, max_logit_difference, preprocess_spec
from fruit_ext.utils.cli import add_options, tool_parser

PHOTO_DIR = '/usr/share/doc/opencv-doc/examples/data'  # Debian opencv-doc
PHOTOS = ('orange.jpg', 'apple.jpg', 'fruits.jpg', 'baboon.jpg',
          'butterfly.jpg', 'messi5.jpg', 'lena.jpg', 'home.jpg')


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument('--config', default='configs/mobilenet-v2_fruit.py',
                        help='config of the model to time')
    parser.add_argument('--checkpoint',
                        help='weights to load (speed does not depend on it)')
    parser.add_argument(
        '--images', nargs='+',
        help=f'real photos (none: {PHOTO_DIR}/{{{",".join(PHOTOS)}}}, '
        'from the Debian package opencv-doc)')
    parser.add_argument('--batch-sizes', nargs='+', type=int, default=[1, 32],
                        help='batch sizes to time')
    parser.add_argument('--threads', nargs='+', type=int,
                        default=sorted({1, os.cpu_count()}),
                        help='intra-op thread counts to compare, applied to '
                        'both runtimes')
    add_options(parser, '--repeats', '--warmup', repeats=15)
    return parser.parse_args()


def default_images() -> List[str]:
    """The opencv-doc photos that are installed."""
    found = [p for p in (os.path.join(PHOTO_DIR, n) for n in PHOTOS)
             if os.path.isfile(p)]
    if not found:
        raise SystemExit(f'no photos in {PHOTO_DIR}: install the Debian '
                         'package opencv-doc or pass --images')
    return found


def make_batches(model: torch.nn.Module, images: List[str],
                 sizes: List[int]) -> Dict[int, torch.Tensor]:
    """Normalised input batches of each size, cycling through the photos."""
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(model)
    data = next(inferencer.preprocess(images, batch_size=len(images)))
    with torch.no_grad():
        base = model.data_preprocessor(data)['inputs']
    return {size: base[torch.arange(size) % len(base)].contiguous()
            for size in sizes}


def timed(function: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    """Export, time both runtimes interleaved, print the table."""
    args = parse_args()
    images = args.images or default_images()
    config = Config.fromfile(args.config)
    model = get_model(config, pretrained=args.checkpoint or False).eval()
    batches = make_batches(model, images, args.batch_sizes)
    workdir = tempfile.mkdtemp(prefix='fruit_ext_bench_')
    onnx_file = export_onnx(model, os.path.join(workdir, 'model.onnx'),
                            [str(i) for i in range(
                                config.model.head.num_classes)],
                            preprocess_spec(config, model))
    sessions = {}
    for threads in args.threads:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        sessions[threads] = ort.InferenceSession(
            onnx_file, options, providers=['CPUExecutionProvider'])

    def torch_run(batch: torch.Tensor,
                  threads: int) -> Callable[[], object]:
        def call():
            torch.set_num_threads(threads)
            with torch.inference_mode():
                return model(batch, mode='tensor')
        return call

    def ort_run(batch: torch.Tensor, threads: int) -> Callable[[], object]:
        feed = {'input': batch.numpy()}
        return lambda: sessions[threads].run(None, feed)

    runners = {(name, size, threads): make(batches[size], threads)
               for threads in args.threads
               for size in args.batch_sizes
               for name, make in (('PyTorch eager', torch_run),
                                  ('ONNX Runtime', ort_run))}
    for _ in range(args.warmup):
        for call in runners.values():
            call()
    times: Dict[Tuple[str, int, int], List[float]] = {
        key: [] for key in runners}
    for _ in range(args.repeats):
        for key, call in runners.items():
            times[key].append(timed(call))
    difference = max(max_logit_difference(model, onnx_file, batch)
                     for batch in batches.values())

    side = batches[args.batch_sizes[0]].shape[-1]
    print(f'{platform.processor() or platform.machine()}, {os.cpu_count()} '
          f'cores; torch {torch.__version__}, '
          f'onnxruntime {ort.__version__}; {config.model.backbone.type} '
          f'{config.model.head.num_classes} classes at {side} px; '
          f'{len(images)} real photos; {args.repeats} interleaved repeats; '
          f'max |logit diff| {difference:.2g}; load average before '
          f'{os.getloadavg()[0]:.1f}')
    print('| threads | batch | runtime | images/s | batch latency median '
          '(ms) | batch latency p95 (ms) | per image (ms) |')
    print('|---|---|---|---|---|---|---|')
    for (name, size, threads), values in times.items():
        median = float(np.median(values))
        p95 = float(np.percentile(values, 95))
        print(f'| {threads} | {size} | {name} | {size / median:.1f} | '
              f'{median * 1e3:.1f} | {p95 * 1e3:.1f} | '
              f'{median * 1e3 / size:.2f} |')
    print(f'load average after {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
