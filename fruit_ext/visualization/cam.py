"""Where the model looked: Grad-CAM overlays with the ``grad-cam`` package.

:func:`grad_cam_overlay` runs the model's own test pipeline (resize, crop,
normalisation) on an RGB array, computes Grad-CAM (Selvaraju et al., 2017)
at the last convolutional feature map, and paints the heat map back onto the
*whole* picture: the area the centre crop cut away stays uncoloured. The
target layer is found for mmpretrain's MobileNetV2 and timm's
EfficientNet-Lite0 (``TIMMBackbone``), else it is the backbone's last
``Conv2d``; a module name overrides it.
"""
from typing import Optional, Tuple

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS
from PIL import Image

_LOADERS = ('LoadImageFromFile', 'RobustLoadImageFromFile')
#: backbone type -> its last feature map, the usual Grad-CAM layer
KNOWN_LAYERS = {
    'MobileNetV2': 'backbone.conv2',
    'TIMMBackbone': 'backbone.timm_model.bn2',  # conv_head + BN + ReLU6
}


class _Logits(torch.nn.Module):
    """``normalised images -> logits``, the signature grad-cam expects."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs, mode='tensor')


def find_target_layer(model: torch.nn.Module,
                      name: Optional[str] = None) -> Tuple[str,
                                                           torch.nn.Module]:
    """The layer whose activations and gradients make the heat map.

    Args:
        model: An mmpretrain classifier.
        name: Module name (e.g. 'backbone.conv2'); found when None.

    Returns:
        (name, module).

    Raises:
        ValueError: ``name`` is not a module of the model, or the backbone
            has no convolution.
    """
    modules = dict(model.named_modules())
    if name is None:
        kind = type(getattr(model, 'backbone', None)).__name__
        name = KNOWN_LAYERS.get(kind)
        if name not in modules:
            convs = [n for n, m in modules.items()
                     if n.startswith('backbone.')
                     and isinstance(m, torch.nn.Conv2d)]
            if not convs:
                raise ValueError(f'Grad-CAM: the {kind} backbone has no '
                                 'Conv2d; pass target_layer=<module name>.')
            name = convs[-1]
    if name not in modules:
        near = [n for n in modules if n.startswith('backbone.')][-5:]
        raise ValueError(f'Grad-CAM: the model has no module {name!r}; '
                         f'its last backbone modules are {near}.')
    return name, modules[name]


def _network_input(model: torch.nn.Module, image_rgb: np.ndarray, config):
    """The normalised input and the crop box it covers in the image."""
    config = config or getattr(model, '_config', None)
    if config is None:
        raise ValueError('grad_cam_overlay: the model carries no config '
                         '(build it with init_model, or pass config=).')
    transforms = [t for t in config.test_dataloader.dataset.pipeline
                  if getattr(t['type'], '__name__', str(t['type']))
                  .split('.')[-1] not in _LOADERS]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        steps = [TRANSFORMS.build(t) for t in transforms]
    height, width = image_rgb.shape[:2]
    bgr = np.ascontiguousarray(image_rgb[..., ::-1])  # loaders give BGR
    sample = Compose(steps[:-1])(dict(img=bgr, img_shape=(height, width),
                                      ori_shape=(height, width)))
    resized = sample.get('scale')  # read before PackInputs drops it
    data = model.data_preprocessor(default_collate([steps[-1](sample)]),
                                   False)
    crop_h, crop_w = data['inputs'].shape[2:]
    # resized size, then mmcv's centre-crop offset, back to image pixels
    resized_w, resized_h = resized or (crop_w, crop_h)
    left = max(0, int(round((resized_w - crop_w) / 2)))
    top = max(0, int(round((resized_h - crop_h) / 2)))
    sx, sy = resized_w / width, resized_h / height
    box = (round(left / sx), round(top / sy),
           round(min(left + crop_w, resized_w) / sx),
           round(min(top + crop_h, resized_h) / sy))
    return data['inputs'], box


def grad_cam_overlay(model: torch.nn.Module,
                     image_rgb: np.ndarray,
                     target_label: Optional[int] = None,
                     target_layer: Optional[str] = None,
                     image_weight: float = 0.5,
                     config=None) -> np.ndarray:
    """The picture with the Grad-CAM heat map of one class painted on it.

    Args:
        model: An mmpretrain classifier with its config (``init_model``).
        image_rgb: (H, W, 3) uint8 RGB picture.
        target_label: Class to explain; the predicted one when None.
        target_layer: Module name of the layer; found when None.
        image_weight: Share of the picture in the blend (0 to 1).
        config: The model's config (its test pipeline); by default the one
            ``init_model`` attached to the model.

    Returns:
        (H, W, 3) uint8 RGB, the size of ``image_rgb``.

    Raises:
        ValueError: Not an RGB uint8 array, or a wrong ``target_layer``.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    image_rgb = np.asarray(image_rgb)
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or \
            image_rgb.dtype != np.uint8:
        raise ValueError('grad_cam_overlay: image_rgb must be an (H, W, 3) '
                         f'uint8 array, got {image_rgb.shape} '
                         f'{image_rgb.dtype}')
    _, layer = find_target_layer(model, target_layer)
    inputs, (x0, y0, x1, y1) = _network_input(model, image_rgb, config)
    targets = None if target_label is None else [
        ClassifierOutputTarget(int(target_label))]
    training = model.training
    model.eval()
    try:
        with torch.enable_grad(), GradCAM(_Logits(model), [layer]) as cam:
            heat = cam(inputs.requires_grad_(True), targets=targets)[0]
    finally:
        model.train(training)
    picture = image_rgb.copy()
    if x1 > x0 and y1 > y0:  # only the part the network saw is painted
        heat = np.asarray(Image.fromarray(heat).resize(
            (x1 - x0, y1 - y0), Image.Resampling.BILINEAR))
        picture[y0:y1, x0:x1] = show_cam_on_image(
            image_rgb[y0:y1, x0:x1].astype(np.float32) / 255,
            np.clip(heat, 0, 1), use_rgb=True, image_weight=image_weight)
    return picture
