"""Published files: content-hash names, and model.safetensors that loads."""
import json
import re
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from PIL import Image
from safetensors import safe_open

from checkpoint_helpers import save_checkpoint, tiny_cfg
from conftest import REPO, run
from fruit_ext.apis import init_model
from fruit_ext.apis.publish import content_hash, publish_files
from fruit_ext.datasets import FRUIT30_CLASSES


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny config and a training-style checkpoint with a temperature."""
    root = tmp_path_factory.mktemp('publish')
    config = tiny_cfg(root, root / 'data')
    checkpoint, model = save_checkpoint(config, root / 'epoch_1.pth')
    state = torch.load(checkpoint, weights_only=True)
    state['meta']['temperature'] = 1.5
    state['optimizer'] = {'state': {}, 'param_groups': []}
    torch.save(state, checkpoint)
    image = root / 'photo.jpg'
    Image.new('RGB', (48, 40), (30, 160, 60)).save(image)
    return dict(root=root, config=config, checkpoint=checkpoint, model=model,
                image=image)


def _publish(trained, out: Path):
    result = run([sys.executable, 'tools/deploy/publish_model.py',
                  str(trained['checkpoint']), str(out)])
    return re.findall(r'published (\S+)', result.stdout)


def test_same_weights_get_the_same_name_twice(trained, tmp_path):
    first = _publish(trained, tmp_path / 'a')
    second = _publish(trained, tmp_path / 'b')
    assert [Path(p).name for p in first] == [Path(p).name for p in second]
    assert {Path(p).suffix for p in first} == {'.pth', '.safetensors'}
    state = torch.load(trained['checkpoint'], weights_only=True)
    digest = content_hash(state['state_dict'],
                          dict(classes=list(FRUIT30_CLASSES)))
    assert Path(first[0]).stem == f'epoch_1-{digest[:8]}'


def test_other_weights_or_classes_get_another_name(trained, tmp_path):
    state = torch.load(trained['checkpoint'], weights_only=True)
    base = content_hash(state['state_dict'], state['meta']['dataset_meta'])
    renamed = dict(classes=list(reversed(FRUIT30_CLASSES)))
    assert content_hash(state['state_dict'], renamed) != base
    calibrated = content_hash(state['state_dict'],
                              state['meta']['dataset_meta'],
                              dict(temperature=0.8, score='energy'))
    assert calibrated != base
    key = 'head.fc.bias'
    state['state_dict'][key] = state['state_dict'][key] + 1e-3
    assert content_hash(state['state_dict'],
                        state['meta']['dataset_meta']) != base


def test_safetensors_metadata(trained, tmp_path):
    written = publish_files(str(trained['checkpoint']), str(tmp_path))
    with safe_open(written['safetensors'], framework='pt') as file:
        header = file.metadata()
        keys = set(file.keys())
    assert keys == set(trained['model'].state_dict())
    assert json.loads(header['classes']) == list(FRUIT30_CLASSES)
    assert json.loads(header['input_size']) == 32
    cfg = Config.fromfile(str(trained['config']))
    assert json.loads(header['mean']) == list(cfg.data_preprocessor.mean)
    assert json.loads(header['std']) == list(cfg.data_preprocessor.std)
    assert json.loads(header['temperature']) == 1.5
    assert 'widen_factor=0.35' in header['config']
    assert 'optimizer' not in header


def test_init_model_and_infer_tool_load_safetensors(trained, tmp_path):
    written = publish_files(str(trained['checkpoint']), str(tmp_path))
    from_pth = init_model(str(trained['config']), written['pth'])
    from_st = init_model(str(trained['config']), written['safetensors'])
    assert from_st._dataset_meta['classes'] == list(FRUIT30_CLASSES)
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(from_pth(inputs, mode='tensor'),
                           from_st(inputs, mode='tensor'))
    outs = []
    for checkpoint in (written['pth'], written['safetensors']):
        out = tmp_path / f'{Path(checkpoint).suffix[1:]}.json'
        run([sys.executable, 'tools/infer.py', str(trained['config']),
             checkpoint, str(trained['image']), '--out', str(out)])
        outs.append(json.loads(out.read_text())['predictions'])
    assert outs[0] == outs[1]


def test_safetensors_that_does_not_fit_is_refused(trained, tmp_path):
    written = publish_files(str(trained['checkpoint']), str(tmp_path))
    demo = REPO / 'configs' / 'mobilenet-v2_fruit_demo.py'
    result = run([sys.executable, 'tools/infer.py', str(demo),
                  written['safetensors'], str(trained['image'])], check=False)
    assert result.returncode == 1
    assert f"error: Checkpoint {written['safetensors']} does not fit" in \
        result.stdout


def test_safetensors_pinned_in_requirements():
    import safetensors
    lines = (REPO / 'requirements' / 'runtime.txt').read_text().splitlines()
    assert f'safetensors=={safetensors.__version__}' in lines


def test_a_published_file_alone_is_enough(trained, tmp_path):
    written = publish_files(str(trained['checkpoint']), str(tmp_path))
    model = init_model(written['safetensors'])
    assert model._dataset_meta['classes'] == list(FRUIT30_CLASSES)
    out = tmp_path / 'alone.json'
    run([sys.executable, 'tools/infer.py', written['safetensors'],
         str(trained['image']), '--out', str(out)])
    with_config = tmp_path / 'with_config.json'
    run([sys.executable, 'tools/infer.py', str(trained['config']),
         written['pth'], str(trained['image']), '--out', str(with_config)])
    assert json.loads(out.read_text())['predictions'] == \
        json.loads(with_config.read_text())['predictions']


def test_a_file_without_config_alone_is_refused(tmp_path, trained):
    bare = tmp_path / 'weights.pth'
    torch.save(trained['model'].state_dict(), bare)
    result = run([sys.executable, 'tools/infer.py', str(bare),
                  str(trained['image'])], check=False)
    assert result.returncode == 1
    assert f'Checkpoint {bare} stores no training config' in result.stdout


def test_mim_test_takes_a_safetensors_checkpoint(fruit_tree, tmp_path):
    config = tiny_cfg(tmp_path, fruit_tree)
    checkpoint, _ = save_checkpoint(config, tmp_path / 'epoch_1.pth')
    written = publish_files(str(checkpoint), str(tmp_path / 'pub'))
    result = run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
                  written['safetensors'], '--work-dir', str(tmp_path / 'w')],
                 cwd=tmp_path)
    assert 'accuracy/top1' in result.stdout


def test_truncated_safetensors_is_named(trained, tmp_path):
    written = publish_files(str(trained['checkpoint']), str(tmp_path))
    cut = tmp_path / 'cut.safetensors'
    cut.write_bytes(Path(written['safetensors']).read_bytes()[:5000])
    result = run([sys.executable, 'tools/infer.py', str(trained['config']),
                  str(cut), str(trained['image'])], check=False)
    assert result.returncode == 1
    assert f'error: Checkpoint {cut} is not a readable safetensors file' \
        in result.stdout
