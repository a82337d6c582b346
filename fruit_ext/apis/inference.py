"""Inference the way the course (mmcls 0.x) did it, on mmpretrain 1.x."""
import os
from typing import Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from mmpretrain.visualization import UniversalVisualizer
from modelindex.models.Model import Model

from ..visualization import display_labels
from .checked_loading import build_model
from .image_core import load_rgb
from .work_dir import resolve_model_files


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               **kwargs) -> BaseModel:
    """Build a classifier from a config and load a checkpoint.

    The model carries the task metadata that :func:`mmpretrain.inference_model`
    needs, so ``inference_model(init_model(cfg, ckpt), 'apple.jpg')`` works.

    Args:
        config: Config file path, :class:`Config`, model-index name, or a
            training work dir (its dumped config and ``best.pth``).
        checkpoint: Checkpoint to load (``.pth`` or ``.safetensors``); its
            ``dataset_meta`` gives the class names. None keeps random
            weights (or, for a work dir, takes its best checkpoint).
        device: Device to put the model on.
        **kwargs: Model config overrides, as for :func:`mmpretrain.get_model`.

    Returns:
        The model in eval mode.

    Raises:
        CheckpointMismatchError: The checkpoint does not fit the config.
        WorkDirError: A work dir lacks its config or a checkpoint.
    """
    if isinstance(config, (str, os.PathLike)):
        config, checkpoint = resolve_model_files(str(config), checkpoint)
    model = build_model(config, checkpoint, device=device, **kwargs)
    config = model._config
    model._metainfo = Model(
        name=config.filename or 'fruit_ext-model',
        config=config.filename,
        weights=checkpoint,
        results=[
            dict(Task='Image Classification', Dataset='custom', Metrics={})
        ])
    model.eval()
    return model


def show_result_pyplot(model: BaseModel,
                       img: Union[str, np.ndarray],
                       result: dict,
                       out_file: Optional[str] = None,
                       show: bool = False,
                       wait_time: float = 0,
                       resize: Optional[int] = None) -> np.ndarray:
    """Draw a prediction on the image, as mmcls 0.x's helper did.

    Class names are drawn with a CJK font when one is installed, otherwise
    with their English aliases.

    Args:
        model: The model from :func:`init_model` (its dataset metadata gives
            class names and aliases).
        img: Image path (decoded like ``RobustLoadImageFromFile``) or RGB
            array.
        result: Output of :func:`mmpretrain.inference_model`.
        out_file: Where to write the picture (PNG/JPEG); not written if None.
        show: Open a window with the picture.
        wait_time: Seconds to keep the window open.
        resize: Resize the short edge of the picture to this size first.

    Returns:
        The drawn picture, RGB.

    Raises:
        BrokenImageError: ``img`` is a file that cannot be decoded.
    """
    # the picture the model saw: same decoder as RobustLoadImageFromFile
    # (upright, alpha on white, 16-bit scaled), at full size
    image = load_rgb(img) if isinstance(img, (str, os.PathLike)) else img
    meta = getattr(model, '_dataset_meta', None) or getattr(
        model, 'dataset_meta', None) or {}
    classes = meta.get('classes') or [result.get('pred_class', '')]
    labels, font = display_labels(classes, meta.get('aliases'))
    sample = DataSample().set_pred_score(torch.as_tensor(
        result['pred_scores'])).set_pred_label(int(result['pred_label']))
    text_cfg = dict(font_properties=font) if font is not None else {}
    visualizer = UniversalVisualizer()
    return visualizer.visualize_cls(
        image,
        sample,
        classes=labels,
        resize=resize,
        text_cfg=text_cfg,
        show=show,
        wait_time=wait_time,
        out_file=out_file)
