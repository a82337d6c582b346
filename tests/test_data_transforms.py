"""RobustLoadImageFromFile and FastRandomResizedCrop on generated files."""
from pathlib import Path

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmengine.config import Config
from mmengine.dataset import Compose
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageOps

from conftest import REPO, write_class_tree
from fruit_ext.datasets import (BrokenImageError, FastRandomResizedCrop,
                                Fruit30, RobustLoadImageFromFile)
from fruit_ext.datasets.skip_broken import SKIPPED_KEY
from fruit_ext.datasets.transforms import jpeg_reduction
from test_data_check import (jpeg_bytes, photo, write_bomb_png,
                             write_exif_rotated, write_grey16)


def structured(width: int, height: int) -> Image.Image:
    """Smooth but busy content: a misplaced crop box shows at once."""
    y, x = np.mgrid[0:height, 0:width].astype(float)
    pixels = np.stack([127 + 120 * np.sin(x / 23) * np.cos(y / 17),
                       255 * x / width, 255 * y / height], axis=-1)
    return Image.fromarray(pixels.round().astype(np.uint8))


def load(path: Path, **kwargs) -> dict:
    return RobustLoadImageFromFile(**kwargs)({'img_path': str(path)})


def test_every_decodable_kind_becomes_bgr_uint8(tmp_path):
    cases = {
        'plain.jpg': photo(),
        'grey.png': photo().convert('L'),
        'palette.png': photo().convert('P'),
        'opaque_alpha.png': photo().convert('RGBA'),
        'cmyk.jpg': photo().convert('CMYK'),
        'png_named.jpg': photo(),
    }
    for name, image in cases.items():
        image.save(tmp_path / name, 'PNG' if name == 'png_named.jpg' else
                   None)
        results = load(tmp_path / name)
        img = results['img']
        assert img.dtype == np.uint8 and img.shape == (32, 48, 3), name
        assert results['ori_shape'] == results['img_shape'] == (32, 48)
        # Pillow's decode as the reference (JPEGs go through OpenCV, whose
        # libjpeg may round differently by a level)
        want = np.asarray(Image.open(tmp_path / name).convert('RGB'))
        assert np.abs(img[..., ::-1] - want.astype(int)).max() <= 2, name
    grey = load(tmp_path / 'grey.png')['img']
    assert (grey[..., 0] == grey[..., 2]).all()


def test_alpha_is_composited_on_white_not_dropped(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200  # red hidden under full transparency on the left
    rgba[:, 4:, 3] = 255
    Image.fromarray(rgba).save(tmp_path / 'a.png')
    img = load(tmp_path / 'a.png')['img']
    assert (img[:, :4] == 255).all()
    assert (img[:, 4:] == (0, 0, 200)).all()  # BGR
    palette = Image.new('P', (8, 8), 0)
    palette.putpalette([200, 0, 0, 0, 0, 200])
    palette.paste(1, (4, 0, 8, 8))
    palette.save(tmp_path / 'p.png', transparency=0)
    img = load(tmp_path / 'p.png')['img']
    assert (img[:, :4] == 255).all()
    assert (img[:, 4:] == (200, 0, 0)).all()


@pytest.mark.parametrize('orientation', range(2, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    path = write_exif_rotated(tmp_path / 'r.jpg', orientation)
    results = load(path)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    assert results['img'].shape == upright.shape
    assert results['ori_shape'] == upright.shape[:2]
    assert np.abs(results['img'][..., ::-1] - upright.astype(int)).max() <= 2


def test_16_bit_is_scaled_not_clipped(tmp_path):
    img = load(write_grey16(tmp_path / 'g.png'))['img']
    assert (img == 156).all()  # 40000 / 257


def test_non_ascii_paths_and_grayscale_float_options(tmp_path):
    folder = tmp_path / '苹果-红'
    folder.mkdir()
    photo().save(folder / '图片 1.jpg')
    results = load(folder / '图片 1.jpg', color_type='grayscale',
                   to_float32=True)
    assert results['img'].shape == (32, 48)
    assert results['img'].dtype == np.float32


@pytest.mark.parametrize('kind', ['empty', 'truncated', 'text', 'bomb',
                                  'missing'])
def test_undecodable_files_raise_naming_the_file(tmp_path, kind):
    path = tmp_path / f'{kind}.png'
    data = jpeg_bytes(photo(64, 64))
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        path.write_bytes(data[:len(data) // 2])
    elif kind == 'text':
        path.write_text('hello')
    elif kind == 'bomb':
        write_bomb_png(path)
    with pytest.raises(BrokenImageError) as info:
        transforms = [RobustLoadImageFromFile(lazy=True),
                      FastRandomResizedCrop(32)]
        Compose(transforms)({'img_path': str(path)})
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    reason = {'empty': '0 bytes', 'truncated': 'truncated',
              'text': 'not an image', 'bomb': 'decompression-bomb',
              'missing': 'cannot read'}[kind]
    assert reason in str(info.value)


def test_min_size_decodes_jpeg_at_reduced_scale(tmp_path):
    photo(1024, 768).save(tmp_path / 'big.jpg', quality=90)
    results = load(tmp_path / 'big.jpg', min_size=256)
    assert results['ori_shape'] == (768, 1024)
    assert results['img_shape'] == (384, 512)  # 1/4 would be 192 < 256
    assert load(tmp_path / 'big.jpg', min_size=100)['img_shape'] == (192, 256)
    full = load(tmp_path / 'big.jpg')['img']
    assert full.shape == (768, 1024, 3)


def test_jpeg_reduction_keeps_the_crop_at_output_size():
    assert jpeg_reduction((1000, 800), (224, 224)) == 2
    assert jpeg_reduction((1800, 1800), (224, 224)) == 8
    assert jpeg_reduction((900, 1799), (224, 224)) == 4
    assert jpeg_reduction((300, 3000), (224, 224)) == 1


@pytest.mark.parametrize('name', [f'o{i}.jpg' for i in range(1, 9)]
                         + ['plain.png'])
def test_fast_crop_matches_random_resized_crop(tmp_path, name):
    """Same seed, same crop box, any EXIF orientation: the pictures agree.

    1203x901 is no multiple of 8, so libjpeg pads the reduced image.
    """
    path = tmp_path / name
    exif = Image.Exif()
    exif[0x0112] = int(name[1]) if name.startswith('o') else 1
    structured(1203, 901).save(path, exif=exif, quality=95)
    # cv2 resizes without antialiasing (and from an integer box), so its
    # result depends a little on the decode scale; a misplaced or misturned
    # box differs by tens of levels.
    for backend, tolerance in (('pillow', 1), ('cv2', 5)):
        reference = Compose([RobustLoadImageFromFile(),
                             RandomResizedCrop(64, backend=backend)])
        fast = Compose([RobustLoadImageFromFile(lazy=True),
                        FastRandomResizedCrop(64, backend=backend)])
        for seed in range(3):
            np.random.seed(seed)
            want = reference({'img_path': str(path)})
            np.random.seed(seed)
            got = fast({'img_path': str(path)})
            assert got['img'].shape == (64, 64, 3)
            assert got['ori_shape'] == want['ori_shape']
            error = np.abs(got['img'] - want['img'].astype(int)).mean()
            assert error < tolerance, (backend, seed, error)


def test_lazy_mode_rejects_options_it_cannot_honour():
    with pytest.raises(ValueError, match='lazy=True'):
        RobustLoadImageFromFile(lazy=True, to_float32=True)
    with pytest.raises(ValueError, match='color_type'):
        RobustLoadImageFromFile(color_type='unchanged')


def test_an_already_decoded_image_is_kept(tmp_path):
    """mmpretrain's inferencers decode first and drop LoadImageFromFile."""
    img = np.zeros((5, 6, 3), np.uint8)
    results = RobustLoadImageFromFile()({'img': img, 'img_shape': (5, 6)})
    assert results['img'] is img


@pytest.mark.parametrize('config', ['configs/mobilenet-v2_fruit.py',
                                    'configs/_base_/datasets/fruit30.py'])
def test_fruit30_configs_use_the_robust_fast_pipelines(tmp_path, config):
    cfg = Config.fromfile(str(REPO / config))
    train = cfg.train_dataloader.dataset.pipeline
    test = cfg.val_dataloader.dataset.pipeline
    assert train[0]['type'] == test[0]['type'] == 'RobustLoadImageFromFile'
    assert cfg.train_dataloader.dataset.on_broken == 'raise'
    write_exif_rotated(tmp_path / 'r.jpg')
    photo(640, 480).convert('CMYK').save(tmp_path / 'c.jpg')
    for pipeline in (train, test):
        transforms = Compose([TRANSFORMS.build(t) for t in pipeline])
        for name in ('r.jpg', 'c.jpg'):
            packed = transforms({'img_path': str(tmp_path / name)})
            assert packed['inputs'].shape == (3, 224, 224)


def test_dataset_skip_option_serves_another_sample(tmp_path):
    root = write_class_tree(tmp_path / 'd', ('a', 'b'), {'train': 2})
    broken = root / 'train' / 'a' / '0.jpg'
    broken.write_bytes(b'')
    pipeline = [dict(type='RobustLoadImageFromFile'),
                dict(type='PackInputs')]
    index = next(i for i in range(4) if Fruit30(
        data_root=str(root), split='train', classes='folders',
        pipeline=pipeline).get_data_info(i)['img_path'] == str(broken))
    strict = Fruit30(data_root=str(root), split='train', classes='folders',
                     pipeline=pipeline)
    with pytest.raises(BrokenImageError, match='0 bytes'):
        strict[index]
    lenient = Fruit30(data_root=str(root), split='train', classes='folders',
                      pipeline=pipeline, on_broken='skip')
    sample = lenient[index]['data_samples']
    assert sample.img_path != str(broken)
    assert sample.metainfo[SKIPPED_KEY] == [str(broken)]
    with pytest.raises(ValueError, match='on_broken'):
        Fruit30(data_root=str(root), split='train', on_broken='ignore')


def test_mmcv_loader_silently_differs_where_ours_is_right(tmp_path):
    """Why the configs switch loaders: mmcv keeps the hidden colour."""
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    Image.fromarray(rgba).save(tmp_path / 'cutout.png')
    theirs = LoadImageFromFile()({'img_path': str(tmp_path / 'cutout.png')})
    assert (theirs['img'] == (0, 0, 200)).all()
    assert (load(tmp_path / 'cutout.png')['img'] == 255).all()
