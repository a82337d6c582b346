"""Grad-CAM overlays: right size, painted where the network looked."""
import numpy as np
import pytest
import torch

from conftest import REPO
from fruit_ext.apis.inference import init_model
from fruit_ext.visualization.cam import find_target_layer, grad_cam_overlay


@pytest.fixture(scope='module', autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def picture(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 / width, y * 255 / height,
                       np.full((height, width), 90)], axis=-1)
    return (pixels + rng.normal(0, 25, pixels.shape)).clip(
        0, 255).astype(np.uint8)


@pytest.mark.parametrize('config,layer', [
    ('mobilenet-v2_fruit.py', 'backbone.conv2'),
    ('efficientnet-lite0_fruit.py', 'backbone.timm_model.bn2'),
])
def test_cam_picture_size_and_target_layer(config, layer):
    model = init_model(str(REPO / 'configs' / config))
    assert find_target_layer(model)[0] == layer
    image = picture(90, 300)  # wide: the centre crop cuts the sides off
    overlay = grad_cam_overlay(model, image, target_label=4)
    assert overlay.shape == image.shape and overlay.dtype == np.uint8
    changed = np.abs(overlay.astype(int) - image).sum(axis=2) > 0
    # ResizeEdge to 256 x 853, CenterCrop 224: the network saw columns
    # 110-189 and rows 6-83 of the picture; only they are painted
    assert changed[10:80, 115:185].mean() > 0.9
    assert not changed[:, :105].any() and not changed[:, 195:].any()
    assert not changed[:4].any() and not changed[-4:].any()
    # another class gives another map; the predicted class is the default
    assert not np.array_equal(overlay, grad_cam_overlay(model, image, 0))
    assert grad_cam_overlay(model, image).shape == image.shape


def test_cam_names_a_wrong_layer_and_input():
    model = init_model(str(REPO / 'configs' / 'mobilenet-v2_fruit.py'))
    with pytest.raises(ValueError, match="no module 'backbone.nope'"):
        grad_cam_overlay(model, picture(40, 40), target_layer='backbone.nope')
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8'):
        grad_cam_overlay(model, picture(40, 40).astype(np.float32))
    overlay = grad_cam_overlay(model, picture(64, 48),
                               target_layer='backbone.layer6')
    assert overlay.shape == (64, 48, 3)
