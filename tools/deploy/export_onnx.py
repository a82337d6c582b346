"""Export a trained classifier to ONNX and check it against PyTorch.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--verify IMG ...] [--tolerance 1e-4] [--opset 17]
    python tools/deploy/export_onnx.py WORK_DIR [CHECKPOINT] --out model.onnx
        [--int8 [--calib-dir DIR] [--calib-n 200]]   # + model.int8.onnx

A checkpoint that does not fit the config is refused before anything is
written (exit code 1).

The graph has dynamic batch, height and width; class names and the
preprocessing are stored as metadata, so ``fruit_ext/apis/predictor.py``
(onnxruntime + Pillow + numpy) can run it anywhere. With ``--verify`` the
images go through the config's test pipeline, and PyTorch and onnxruntime
logits on them (batched and one by one) are compared; the standalone
Predictor then decodes and classifies the same files itself. The exit code
is 1 on any disagreement: logits or scores differing by more than
``--tolerance``, a different top-1 class, or an image that cannot be read.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List

import numpy as np
import onnx
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS

from fruit_ext.apis import (Predictor, export_onnx, init_model,
                            max_logit_difference, preprocess_spec)
from fruit_ext.apis.onnx_quantize import export_int8
from fruit_ext.apis.predictor import softmax
from fruit_ext.apis.work_dir import (WorkDirError, add_model_arguments,
                                     resolve_model_files)
from fruit_ext.compat.checkpoint import (CorruptCheckpointError,
                                         UntrustedCheckpointError)
from fruit_ext.datasets import BrokenImageError

#: Model files that cannot be used: one line on stderr, exit code 1.
MODEL_FILE_ERRORS = (ValueError, FileNotFoundError, CorruptCheckpointError,
                     UntrustedCheckpointError)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument('--out', required=True, help='.onnx file to write')
    parser.add_argument('--verify', nargs='+', default=[], metavar='IMG',
                        help='real images to compare PyTorch and ONNX on')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed absolute logit difference')
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset version')
    parser.add_argument('--int8', action='store_true',
                        help='also write OUT with .int8.onnx: static int8 '
                        '(QDQ, per-channel weights), calibrated on images '
                        "through the model's test pipeline; --verify then "
                        'also reports its top-1 agreement with fp32')
    parser.add_argument('--calib-dir', help='--int8 calibration images, any '
                        "layout (default: the config's val split)")
    parser.add_argument('--calib-n', type=int, default=200,
                        help='--int8 calibration images (a seeded sample)')
    return parser.parse_args()


def pipeline_batch(config: Config, model: torch.nn.Module,
                   images: List[str]) -> torch.Tensor:
    """Images through the config's test pipeline and data preprocessor.

    Args:
        config: Model config.
        model: The classifier (its data preprocessor normalises).
        images: Image files.

    Returns:
        (N, 3, H, W) normalised batch.
    """
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose([TRANSFORMS.build(t)
                            for t in config.test_dataloader.dataset.pipeline])
    samples = []
    for image in images:
        sample = pipeline(dict(img_path=image))
        if sample is None:
            raise ValueError(f'{image}: the test pipeline could not read it')
        samples.append(sample)
    with torch.no_grad():
        return model.data_preprocessor(default_collate(samples))['inputs']


def pipeline_inputs(config: Config, model: torch.nn.Module,
                    images: List[str]) -> List[torch.Tensor]:
    """Each image alone through the test pipeline and data preprocessor.

    Args:
        config: Model config.
        model: The classifier (its data preprocessor normalises).
        images: Image files.

    Returns:
        One (3, H, W) normalised tensor per image, unpadded.

    Raises:
        BrokenImageError: An image cannot be decoded.
    """
    return [pipeline_batch(config, model, [image])[0] for image in images]


def verify(model: torch.nn.Module, config: Config, onnx_file: str,
           images: List[str], tolerance: float) -> int:
    """Compare PyTorch, onnxruntime and the standalone Predictor.

    PyTorch and onnxruntime get the test pipeline's tensors (batched and
    one by one); the Predictor decodes and preprocesses the files itself.
    Any top-1 difference, or a logit or score difference over
    ``tolerance``, is a disagreement.

    Args:
        model: The exported classifier.
        config: Its config.
        onnx_file: The exported file.
        images: Image files.
        tolerance: Largest allowed absolute logit and score difference.

    Returns:
        0 when everything agrees, else 1 (what differs is on stderr).
    """
    predictor = Predictor(onnx_file)
    try:
        inputs = pipeline_inputs(config, model, images)
        ours = [predictor.preprocess(image) for image in images]
    except (BrokenImageError, ValueError) as error:
        print(f'error: cannot verify on {error}', file=sys.stderr)
        return 1
    worst = max(max_logit_difference(model, onnx_file, x[None])
                for x in inputs)
    if len({tuple(x.shape) for x in inputs}) == 1:
        worst = max(worst, max_logit_difference(model, onnx_file,
                                                torch.stack(inputs)))
    problems, agree, pixels = [], 0, []
    for image, x, y in zip(images, inputs, ours):
        with torch.no_grad():
            want = model(x[None], mode='tensor').softmax(dim=1)[0].numpy()
        got = softmax(predictor.logits(y[None]))[0]
        pixels.append(float(np.abs(x.numpy() - y).max())
                      if x.shape == y.shape else float('inf'))
        score = float(np.abs(want - got).max())
        agree += int(want.argmax() == got.argmax())
        if want.argmax() != got.argmax() or score > tolerance:
            names = [predictor.classes[p.argmax()] for p in (got, want)]
            problems.append(
                f'{image}: Predictor says {names[0]} ({got.max():.3f}), '
                f'PyTorch {names[1]} ({want.max():.3f}); |score difference| '
                f'{score:.3g}, |input difference| {pixels[-1]:.3g}')
    print(f'verify on {len(images)} images of '
          f'{sorted({tuple(x.shape[1:]) for x in inputs})} px: max |logit '
          f'difference| PyTorch vs onnxruntime = {worst:.3g} (tolerance '
          f'{tolerance:g}); Predictor top-1 agrees on {agree}/{len(images)}, '
          f'scores within tolerance on {len(images) - len(problems)}/'
          f'{len(images)}')
    if worst > tolerance:
        problems.insert(0, f'ONNX logits differ from PyTorch by {worst:.3g},'
                        f' beyond the tolerance {tolerance:g}')
    for problem in problems:
        print(f'error: {problem}', file=sys.stderr)
    if problems:
        print(f'error: {onnx_file} does not predict what the config\'s test '
              'pipeline predicts' + (
                  f'. The Predictor\'s inputs differ from the pipeline\'s by '
                  f'up to {max(pixels):.3g}: it reproduces Pillow resizing '
                  "only, so use backend='pillow' in the test pipeline."
                  if max(pixels) > 0 else '.'), file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    """Export, then verify; returns the exit code."""
    args = parse_args()
    try:
        config_file, checkpoint = resolve_model_files(args.config,
                                                      args.checkpoint)
        if not checkpoint:
            raise WorkDirError(f'{args.config} is not a work dir: pass the '
                               'CHECKPOINT to export after it.')
        model = init_model(config_file, checkpoint, device='cpu')
    except MODEL_FILE_ERRORS as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    args.checkpoint = checkpoint
    config = model._config
    meta = model._dataset_meta or {}
    if not meta.get('classes'):
        print(f'error: {args.checkpoint} has no class names in its metadata',
              file=sys.stderr)
        return 1
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    export_onnx(model, args.out, meta['classes'],
                preprocess_spec(config, model), aliases=meta.get('aliases'),
                opset=args.opset,
                calibration=getattr(model, '_calibration', None))
    dims = onnx.load(args.out).graph.input[0].type.tensor_type.shape.dim
    print(f'exported {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB, '
          f'{len(meta["classes"])} classes, input ('
          + ', '.join(d.dim_param or str(d.dim_value) for d in dims) + ')'
          + (f', calibrated: T={model._calibration["temperature"]:.3g}'
             if getattr(model, '_calibration', None) else '') + ')')
    if args.int8:
        try:
            int8_lines = export_int8(args.out, config, args.calib_dir,
                                     args.calib_n, args.verify)
        except ValueError as error:
            print(f'error: {error}', file=sys.stderr)
            return 1
        print('\n'.join(int8_lines))
    if not args.verify:
        return 0
    return verify(model, config, args.out, args.verify, args.tolerance)

if __name__ == '__main__':
    sys.exit(main())
