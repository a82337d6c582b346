"""One image loader everywhere: the same file gives the same network input.

Real files of every awkward kind go through each entry point of
``configs/mobilenet-v2_fruit.py`` (test pipeline: ``RobustLoadImageFromFile
(min_size=256)``, ``ResizeEdge(256, pillow)``, ``CenterCrop(224)``), and the
tensor that reaches the backbone is compared bit for bit: the dataset
pipeline, ``inference_model`` on ``init_model``,
``ImageClassificationInferencer`` by model-index name,
``tools/image_demo.py``, ``BatchInferencer`` (``tools/infer.py``) and the
standalone ONNX ``Predictor``.
"""
import io
import json
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmpretrain import get_model, inference_model
from mmpretrain.apis import ImageClassificationInferencer
from mmpretrain.registry import DATASETS
from PIL import Image

from conftest import REPO, run
from fruit_ext.apis import BatchInferencer, init_model, load_rgb
from fruit_ext.datasets import FRUIT30_CLASSES, BrokenImageError
from fruit_ext.datasets.transforms.decode import EncodedImage

CONFIG = str(REPO / 'configs' / 'mobilenet-v2_fruit.py')
NAME = 'mobilenet-v2_fruit30'


def smooth_rgb(width: int, height: int, seed: int) -> np.ndarray:
    """Gradients plus noise: JPEG-like content with detail in every block."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 / width, y * 255 / height,
                       (x + y) * 127 / (width + height) + 60], axis=-1)
    return (pixels + rng.normal(0, 25, pixels.shape)).clip(0, 255).astype(
        np.uint8)


def write_awkward_images(folder: Path) -> List[Path]:
    """Every kind of file the loaders must agree on, written for real.

    Returns:
        The files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(smooth_rgb(600, 540, seed=1))
    photo.save(folder / 'plain.jpg', quality=90)  # decoded at 1/2 scale
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned by 90 degrees
    photo.save(folder / 'rotated.jpg', quality=90, exif=exif.tobytes())
    photo.convert('CMYK').save(folder / 'cmyk.jpg', quality=90)
    photo.convert('L').save(folder / 'grey.jpg', quality=90)
    small = photo.resize((300, 270))
    small.convert('L').save(folder / 'grey.png')
    ramp = np.linspace(0, 65535, 300 * 270).reshape(270, 300)
    Image.fromarray(ramp.astype(np.uint16)).save(folder / 'grey16.png')
    Image.fromarray((ramp / 65535).astype(np.float32), 'F').save(
        folder / 'float.tif')
    palette = small.convert('P', palette=Image.Palette.ADAPTIVE, colors=64)
    palette.save(folder / 'palette.png', transparency=0)
    rgba = np.dstack([np.asarray(small), np.full((270, 300), 255, np.uint8)])
    rgba[:, :150, 3] = 0  # the left half is transparent, red underneath
    rgba[:, :150, :3] = (200, 0, 0)
    Image.fromarray(rgba).save(folder / 'alpha.png')
    small.save(folder / 'photo.webp', quality=90)
    return sorted(folder.iterdir())


@pytest.fixture(scope='module')
def dataset_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('parity') / 'data'
    write_awkward_images(root / 'val' / FRUIT30_CLASSES[0])
    return root


@pytest.fixture(scope='module')
def files(dataset_root) -> List[str]:
    return [str(p) for p in sorted(
        (dataset_root / 'val' / FRUIT30_CLASSES[0]).iterdir())]


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    """Random MobileNetV2 weights for the config, with class names."""
    torch.manual_seed(0)
    model = get_model(CONFIG)
    path = tmp_path_factory.mktemp('parity_ckpt') / 'random.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': list(FRUIT30_CLASSES)}}},
               path)
    return str(path)


@contextmanager
def backbone_inputs(model: torch.nn.Module) -> Iterator[List[torch.Tensor]]:
    """Record every batch that reaches the backbone, one tensor per image."""
    seen: List[torch.Tensor] = []
    handle = model.backbone.register_forward_pre_hook(
        lambda _, args: seen.extend(args[0].detach().clone()))
    try:
        yield seen
    finally:
        handle.remove()


@pytest.fixture(scope='module')
def reference(dataset_root, files, checkpoint) -> Dict[str, torch.Tensor]:
    """The tensors validation gives: the config's dataset and pipeline."""
    model = init_model(CONFIG, checkpoint)
    cfg = model._config.test_dataloader.dataset
    dataset = DATASETS.build(dict(
        type=cfg.type, data_root=str(dataset_root), split='val',
        classes='folders', pipeline=cfg.pipeline))
    by_path = {}
    with backbone_inputs(model) as seen, torch.no_grad():
        for index in range(len(dataset)):
            model.test_step(default_collate([dataset[index]]))
            by_path[dataset.get_data_info(index)['img_path']] = seen[-1]
    assert sorted(by_path) == files
    assert all(t.shape == (3, 224, 224) for t in by_path.values())
    return by_path


def assert_same(got: List[torch.Tensor], files: List[str],
                reference: Dict[str, torch.Tensor], who: str) -> None:
    assert len(got) == len(files), who
    for path, tensor in zip(files, got):
        difference = (tensor - reference[path]).abs().max().item()
        assert difference == 0, f'{who}: {Path(path).name} differs by ' \
                                f'{difference} from the dataset pipeline'


def test_inference_model_on_init_model(files, reference, checkpoint):
    model = init_model(CONFIG, checkpoint)
    with backbone_inputs(model) as seen:
        for path in files:
            inference_model(model, path)
    assert_same(seen, files, reference, 'inference_model(init_model(...))')


def test_inferencer_by_model_index_name(files, reference, checkpoint):
    inferencer = ImageClassificationInferencer(NAME, pretrained=checkpoint)
    with backbone_inputs(inferencer.model) as seen:
        inferencer(files, batch_size=4)
    assert_same(seen, files, reference, f'ImageClassificationInferencer'
                f'({NAME!r})')


def test_batch_inferencer(files, reference, checkpoint):
    inferencer = BatchInferencer(CONFIG, checkpoint, batch_size=4)
    with backbone_inputs(inferencer.inferencer.model) as seen:
        predictions, skipped = inferencer.predict(files, progress=False)
    assert not skipped and len(predictions) == len(files)
    assert_same(seen, files, reference, 'BatchInferencer (tools/infer.py)')


def test_onnx_predictor_preprocessing(files, reference, checkpoint,
                                      tmp_path):
    from fruit_ext.apis import Predictor, export_onnx, preprocess_spec
    model = init_model(CONFIG, checkpoint)
    onnx_file = export_onnx(model, str(tmp_path / 'm.onnx'), FRUIT30_CLASSES,
                            preprocess_spec(model._config, model))
    predictor = Predictor(onnx_file)
    got = [torch.from_numpy(predictor.preprocess(p).copy()) for p in files]
    assert_same(got, files, reference, 'ONNX Predictor.preprocess')


def test_image_demo_process(files, reference, checkpoint, tmp_path):
    """tools/image_demo.py as a user runs it: its scores are the ones of the
    dataset pipeline's tensor, and its picture shows the decoded image."""
    model = init_model(CONFIG, checkpoint)
    for name in ('alpha.png', 'grey16.png', 'cmyk.jpg'):
        path = next(p for p in files if p.endswith(name))
        out = tmp_path / f'{name}.png'
        result = run([sys.executable, 'tools/image_demo.py', path, CONFIG,
                      checkpoint, '--out-file', str(out)])
        # the progress bar may share the line
        printed = json.loads(re.search(r'\{"pred_label".*\}',
                                       result.stdout).group(0))
        with torch.no_grad():
            scores = model.head.predict(
                model.extract_feat(reference[path][None]))[0].pred_score
        assert printed['pred_label'] == int(scores.argmax())
        assert printed['pred_score'] == round(float(scores.max()), 4)
        assert out.is_file()
    drawn = np.asarray(Image.open(tmp_path / 'alpha.png.png').convert('RGB'))
    # left half transparent over red: drawn on white, as the model saw it
    assert drawn[drawn.shape[0] // 2, 5].min() > 240


def test_opencv_and_pillow_decode_jpegs_alike(tmp_path):
    """Training decodes plain JPEGs with OpenCV (faster), the Predictor with
    Pillow: the pixels must be the same at every DCT scale."""
    photo = Image.fromarray(smooth_rgb(1037, 781, seed=2))
    variants = dict(q90=dict(quality=90), s444=dict(quality=95, subsampling=0),
                    s422=dict(quality=75, subsampling=1),
                    progressive=dict(quality=85, progressive=True))
    for name, options in variants.items():
        for mode in ('RGB', 'L'):
            buffer = io.BytesIO()
            photo.convert(mode).save(buffer, 'JPEG', **options)
            data = buffer.getvalue()
            for reduction in (1, 2, 4, 8):
                pillow = load_rgb(data, 781 // reduction)
                assert pillow.shape[0] == -(-781 // reduction)
                opencv = EncodedImage(data, name).decode(reduction)[..., ::-1]
                assert pillow.shape == opencv.shape, (name, mode, min_size)
                assert np.array_equal(pillow, opencv), (name, mode, min_size)


def test_sixteen_bit_and_float_greys_are_scaled_not_clipped(files):
    by_name = {Path(p).name: p for p in files}
    grey16 = load_rgb(by_name['grey16.png'])
    as_float = load_rgb(by_name['float.tif'])
    stored = np.linspace(0, 65535, 300 * 270).reshape(270, 300).astype(
        np.uint16)
    np.testing.assert_array_equal(grey16[..., 0],
                                  np.round(stored / 257).astype(np.uint8))
    assert np.abs(as_float.astype(int) - grey16).max() <= 1
    assert 100 < grey16.mean() < 155  # a ramp, not white or black


def test_empty_file_names_the_file(tmp_path, checkpoint):
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(BrokenImageError, match=r'empty\.jpg: empty file'):
        load_rgb(empty)
    model = init_model(CONFIG, checkpoint)
    with pytest.raises(BrokenImageError, match=r'empty\.jpg: empty file'):
        inference_model(model, str(empty))
