"""Export a trained classifier to ONNX and check it against PyTorch.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--verify IMG ...] [--tolerance 1e-4] [--opset 17]
    python tools/deploy/export_onnx.py WORK_DIR [CHECKPOINT] --out model.onnx

A checkpoint that does not fit the config is refused before anything is
written (exit code 1).

The graph has dynamic batch, height and width; class names and the
preprocessing are stored as metadata, so ``fruit_ext/apis/predictor.py``
(onnxruntime + Pillow + numpy) can run it anywhere. With ``--verify`` the
images go through the config's test pipeline once, and PyTorch and
onnxruntime logits on that batch (and on each image alone) are compared: the
exit code is 1 when they differ by more than ``--tolerance``.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS

from fruit_ext.apis import (Predictor, export_onnx, init_model,
                            max_logit_difference, preprocess_spec)
from fruit_ext.apis.work_dir import WorkDirError, resolve_model_files
from fruit_ext.compat.checkpoint import (CorruptCheckpointError,
                                         UntrustedCheckpointError)

#: Model files that cannot be used: one line on stderr, exit code 1.
MODEL_FILE_ERRORS = (ValueError, FileNotFoundError, CorruptCheckpointError,
                     UntrustedCheckpointError)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', metavar='CONFIG|WORK_DIR',
                        help='config file, model-index name, or training '
                        'work dir (its dumped config and best.pth)')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file (.pth or .safetensors); '
                        'optional after a work dir')
    parser.add_argument('--out', required=True, help='.onnx file to write')
    parser.add_argument('--verify', nargs='+', default=[], metavar='IMG',
                        help='real images to compare PyTorch and ONNX on')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed absolute logit difference')
    parser.add_argument('--opset', type=int, default=17)
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
                opset=args.opset)
    print(f'exported {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB, '
          f'{len(meta["classes"])} classes, dynamic batch/height/width)')
    if not args.verify:
        return 0
    batch = pipeline_batch(config, model, args.verify)
    worst = max(max_logit_difference(model, args.out, batch),
                *(max_logit_difference(model, args.out, batch[i:i + 1])
                  for i in range(len(batch))))
    with torch.no_grad():
        torch_labels = model(batch, mode='tensor').argmax(dim=1).numpy()
    predictor_labels = np.array(
        [r['pred_label'] for r in Predictor(args.out)(args.verify)])
    agree = int((torch_labels == predictor_labels).sum())
    print(f'verify on {len(batch)} images of {tuple(batch.shape[2:])} px: '
          f'max |logit difference| PyTorch vs onnxruntime = {worst:.3g} '
          f'(tolerance {args.tolerance:g}); Predictor top-1 agrees on '
          f'{agree}/{len(batch)}')
    if worst > args.tolerance:
        print('error: ONNX logits differ from PyTorch beyond the tolerance',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
