"""ONNX export, the standalone predictor and checkpoint publishing."""
import json
import re
import sys

import numpy as np
import onnx
import pytest
import torch
from mmpretrain import get_model
from mmpretrain.apis import ImageClassificationInferencer

from conftest import REPO, run
from fruit_ext.apis import (Predictor, export_onnx, max_logit_difference,
                            preprocess_spec, publish_checkpoint)
from fruit_ext.apis.publish import content_hash
from fruit_ext.datasets import FRUIT30_ALIASES, FRUIT30_CLASSES
from test_infer_api import train_tiny_model, write_photo


@pytest.fixture(scope='module')
def trained(tmp_path_factory, fruit_tree):
    return train_tiny_model(tmp_path_factory, fruit_tree)


@pytest.fixture(scope='module')
def model(trained):
    config, checkpoint = trained
    return get_model(str(config), pretrained=str(checkpoint))


@pytest.fixture(scope='module')
def photos(tmp_path_factory, fruit_tree):
    folder = tmp_path_factory.mktemp('deploy_photos')
    return [str(write_photo(folder / 'wide.jpg', (96, 64), seed=3)),
            str(write_photo(folder / 'tall.png', (48, 80), seed=4)),
            str(fruit_tree / 'val' / '草莓' / '0.jpg')]


@pytest.fixture(scope='module')
def onnx_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp('onnx') / 'model.onnx'
    return export_onnx(model, str(path), FRUIT30_CLASSES,
                       preprocess_spec(model._config, model),
                       aliases=FRUIT30_ALIASES, sample_size=(32, 32))


def real_batch(paths, size, mean, std) -> torch.Tensor:
    """Real images resized to ``size`` (h, w) and normalised."""
    from PIL import Image
    mean, std = np.float32(mean), np.float32(std)
    arrays = []
    for path in paths:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert('RGB').resize(size[::-1]),
                                np.float32)
        arrays.append(((pixels - mean) / std).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays))


@pytest.mark.parametrize('batch_size,size', [(3, (64, 96)), (1, (112, 80))])
def test_onnx_matches_pytorch(model, onnx_file, photos, batch_size, size):
    spec = preprocess_spec(model._config, model)
    inputs = real_batch(photos[:batch_size], size, spec['mean'],
                        spec['std'])
    assert inputs.shape == (batch_size, 3, *size)
    assert max_logit_difference(model, onnx_file, inputs) <= 1e-4
    with torch.no_grad():
        logits = model(real_batch(photos, size, spec['mean'], spec['std']),
                       mode='tensor')
    # the check is meaningful: the logits depend on the image
    assert (logits - logits[0]).abs().max() > 1e-3


def test_onnx_metadata_and_dynamic_axes(onnx_file):
    graph = onnx.load(onnx_file)
    meta = {entry.key: entry.value for entry in graph.metadata_props}
    assert json.loads(meta['fruit_ext.classes']) == list(FRUIT30_CLASSES)
    preprocess = json.loads(meta['fruit_ext.preprocess'])
    assert preprocess['steps'] == [
        dict(type='resize', size=[32, 32], interpolation='bilinear')]
    assert preprocess['channel_order'] == 'rgb'
    dims = [d.dim_param or d.dim_value
            for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']


def test_predictor_equals_mmpretrain_inference(trained, onnx_file, photos):
    config, checkpoint = trained
    expected = ImageClassificationInferencer(
        str(config), pretrained=str(checkpoint))(photos, batch_size=3)
    results = Predictor(onnx_file)(photos, topk=3)
    for got, want in zip(results, expected):
        assert got['pred_label'] == want['pred_label']
        np.testing.assert_allclose(got['pred_scores'], want['pred_scores'],
                                   atol=1e-5)
        assert [entry[2] for entry in got['topk']] == sorted(
            (entry[2] for entry in got['topk']), reverse=True)


def test_predictor_errors_name_the_file(onnx_file, tmp_path, model):
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'garbage')
    with pytest.raises(ValueError, match=f'Cannot read image {broken}'):
        Predictor(onnx_file)(str(broken))
    bare = tmp_path / 'bare.onnx'
    graph = onnx.load(onnx_file)
    del graph.metadata_props[:]
    onnx.save(graph, str(bare))
    with pytest.raises(ValueError, match='no fruit_ext.classes'):
        Predictor(str(bare))


def test_predictor_script_runs_without_torch(onnx_file, photos, tmp_path):
    # Make torch and the OpenMMLab packages unimportable, then run the file
    # as a script: it must need only onnxruntime, Pillow and numpy.
    code = (
        'import sys, runpy\n'
        'for name in ("torch", "mmcv", "mmengine", "mmpretrain", '
        '"fruit_ext"):\n'
        '    sys.modules[name] = None\n'
        f'sys.argv = ["predictor.py", {onnx_file!r}, *{photos!r}, '
        '"missing.jpg", "--topk", "2"]\n'
        f'runpy.run_path({str(REPO / "fruit_ext/apis/predictor.py")!r}, '
        'run_name="__main__")\n')
    result = run([sys.executable, '-c', code], cwd=tmp_path, check=False)
    assert result.returncode == 1  # for missing.jpg; the others still ran
    lines = [json.loads(line) for line in result.stdout.splitlines()
             if line.startswith('{')]
    assert lines.pop()['error'].startswith('Cannot read image missing.jpg')
    expected = Predictor(onnx_file)(photos, topk=2)
    assert [line['topk'][0]['label'] for line in lines] == [
        r['pred_label'] for r in expected]
    assert lines[0]['topk'][0]['class'] in FRUIT30_CLASSES


def test_export_tool_verifies_on_real_images(trained, photos, tmp_path):
    config, checkpoint = trained
    out = tmp_path / 'deploy' / 'fruit.onnx'
    result = run([sys.executable, 'tools/deploy/export_onnx.py', str(config),
                  str(checkpoint), '--out', str(out), '--verify', *photos])
    difference = float(re.search(
        r'max \|logit difference\| PyTorch vs onnxruntime = (\S+)',
        result.stdout).group(1))
    assert difference <= 1e-4
    assert 'Predictor top-1 agrees on 3/3' in result.stdout
    assert Predictor(str(out)).classes == list(FRUIT30_CLASSES)


def test_publish_tool_strips_training_state(trained, model, photos,
                                            tmp_path):
    config, checkpoint = trained
    result = run([sys.executable, 'tools/deploy/publish_model.py',
                  str(checkpoint), str(tmp_path)])
    published = next(tmp_path.glob('epoch_2-*.pth'))
    assert f'published {published}' in result.stdout
    content = torch.load(published, weights_only=True)
    # named by its content (tensors + classes), not by the file's bytes
    digest = content_hash(content['state_dict'],
                          content['meta']['dataset_meta'])
    assert published.stem == f'epoch_2-{digest[:8]}'
    assert published.with_suffix('.safetensors').is_file()
    assert set(content) == {'state_dict', 'meta'}
    assert content['meta']['dataset_meta']['classes'] == list(FRUIT30_CLASSES)
    assert {'optimizer', 'message_hub'} <= set(
        torch.load(checkpoint, weights_only=True))
    reloaded = get_model(str(config), pretrained=str(published))
    spec = preprocess_spec(model._config, model)
    inputs = real_batch(photos, (32, 32), spec['mean'], spec['std'])
    with torch.no_grad():
        assert torch.equal(reloaded(inputs, mode='tensor'),
                           model(inputs, mode='tensor'))


def test_publish_rejects_checkpoint_without_classes(tmp_path):
    bare = tmp_path / 'weights.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}}, bare)
    with pytest.raises(ValueError,
                       match=f'{bare}: no class names in meta.dataset_meta'):
        publish_checkpoint(str(bare), str(tmp_path / 'out'))
    assert not list((tmp_path / 'out').glob('*'))


def test_predictor_preprocessing_is_the_fruit_configs_pipeline(tmp_path):
    """Bit-exact with configs/mobilenet-v2_fruit.py's test pipeline: reduced
    JPEG decoding, EXIF rotation, transparency, grey images."""
    from mmcv.transforms import Compose
    from mmengine.dataset import default_collate
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    from PIL import Image
    big = Image.open(write_photo(tmp_path / 'p.png', (600, 450), seed=5))
    big.resize((2400, 1800)).save(tmp_path / 'big.jpg', quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    big.save(tmp_path / 'rotated.jpg', exif=exif.tobytes())
    rgba = np.array(big.convert('RGBA'))
    rgba[:150, :, 3] = 0
    Image.fromarray(rgba).save(tmp_path / 'alpha.png')
    big.convert('L').save(tmp_path / 'grey.jpg')
    model = get_model(str(REPO / 'configs' / 'mobilenet-v2_fruit.py'))
    config = model._config
    onnx_path = export_onnx(model, str(tmp_path / 'fruit.onnx'),
                            FRUIT30_CLASSES, preprocess_spec(config, model))
    predictor = Predictor(onnx_path)
    assert predictor.preprocess_cfg['min_size'] == 256
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose([TRANSFORMS.build(t)
                            for t in config.test_dataloader.dataset.pipeline])
    for name in ('big.jpg', 'rotated.jpg', 'alpha.png', 'grey.jpg'):
        sample = pipeline(dict(img_path=str(tmp_path / name)))
        with torch.no_grad():
            expected = model.data_preprocessor(
                default_collate([sample]))['inputs'][0].numpy()
        np.testing.assert_array_equal(
            predictor.preprocess(str(tmp_path / name)), expected)
