"""Checkpoints that do not fit the model or the config are refused by name."""
import logging
import sys
from pathlib import Path

import mmpretrain
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from PIL import Image

from checkpoint_helpers import (DEMO_CONFIG, resnet_config, save_checkpoint,
                                ten_class_config, tiny_cfg)
from conftest import run
from fruit_ext.apis import BatchInferencer, init_model
from fruit_ext.datasets import FRUIT30_CLASSES
from fruit_ext.engine.checkpoint_fit import (CheckpointMismatchError,
                                             check_checkpoint_fits,
                                             check_checkpoint_matches_config,
                                             describe_checkpoint)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A 30-class, a 10-class and a ResNet-18 checkpoint, with configs."""
    root = tmp_path_factory.mktemp('fit')
    data = root / 'data'
    c30, c10, cres = (tiny_cfg(root, data), ten_class_config(root, data),
                      resnet_config(root, data))
    p30, m30 = save_checkpoint(c30, root / 'c30.pth')
    p10, _ = save_checkpoint(c10, root / 'c10.pth',
                             classes=list(FRUIT30_CLASSES[:10]))
    pres, _ = save_checkpoint(cres, root / 'resnet.pth')
    return dict(root=root, data=data, c30=c30, p30=p30, m30=m30, p10=p10,
                pres=pres)


def _load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_describe_names_classes_and_architecture(files):
    text = describe_checkpoint(_load(files['p10']))
    assert text.startswith('10 classes') and 'MobileNetV2' in text
    assert '32 px test input' in text
    bare = describe_checkpoint(_load(files['pres'])['state_dict'])
    assert bare == '30 classes, ResNet-18 (layer1..layer4)'


def test_ten_class_checkpoint_is_refused_with_both_counts(files):
    with pytest.raises(CheckpointMismatchError) as error:
        check_checkpoint_fits(files['m30'], _load(files['p10']),
                              str(files['p10']))
    message = str(error.value)
    assert str(files['p10']) in message and '10 classes' in message
    assert 'expects 30 classes' in message and 'head.fc.weight' in message
    assert 'load_from=' in message  # what to do to fine-tune from it


def test_resnet_weights_are_refused_even_when_fine_tuning(files):
    with pytest.raises(CheckpointMismatchError) as error:
        check_checkpoint_fits(files['m30'], _load(files['pres']),
                              'resnet.pth', allow_new_head=True)
    message = str(error.value)
    assert 'ResNet-18' in message and 'MobileNetV2' in message
    assert 'missing from the checkpoint' in message


def test_fine_tuning_reinitialises_head_and_logs_once(files):
    logger = MMLogger.get_instance('fit-test', log_level='INFO')
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    check_checkpoint_fits(files['m30'], _load(files['p10']), 'c10.pth',
                          allow_new_head=True, logger=logger)
    messages = [r.getMessage() for r in records]
    assert messages == ['head re-initialised: 10 → 30 classes (c10.pth: its '
                        'head does not fit this config, so it is trained '
                        'from scratch)']


def test_matching_checkpoint_passes_ddp_prefix_too(files):
    state = _load(files['p30'])
    check_checkpoint_fits(files['m30'], state, 'c30.pth')
    prefixed = {f'module.{k}': v for k, v in state['state_dict'].items()}
    check_checkpoint_fits(files['m30'], prefixed, 'c30.pth')


def test_other_input_size_warns_with_both_values(files, tmp_path):
    config = tiny_cfg(tmp_path, files['data'], name='at48.py', extra='''
test_dataloader['dataset']['pipeline'] = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(48, 48), backend='pillow'),
    dict(type='PackInputs')]
''')
    warnings = check_checkpoint_matches_config(
        _load(files['p30'])['meta'], Config.fromfile(str(config)), 'c30.pth')
    assert len(warnings) == 1
    assert 'made for 32 px input' in warnings[0]
    assert 'feeds 48 px' in warnings[0]


def test_other_backbone_in_meta_config_is_refused(files):
    meta = _load(files['pres'])['meta']
    with pytest.raises(CheckpointMismatchError, match='ResNet.*MobileNetV2'):
        check_checkpoint_matches_config(
            meta, Config.fromfile(str(files['c30'])), 'resnet.pth')


def test_other_class_names_refused_when_evaluating(files):
    meta = _load(files['p30'])['meta']
    meta['dataset_meta']['classes'] = list(reversed(FRUIT30_CLASSES))
    cfg = Config.fromfile(str(files['c30']))
    with pytest.raises(CheckpointMismatchError, match='class names differ'):
        check_checkpoint_matches_config(meta, cfg, 'c30.pth')
    warnings = check_checkpoint_matches_config(meta, cfg, 'c30.pth',
                                               evaluating=False)
    assert 'predictions use the checkpoint' in warnings[0]
    assert check_checkpoint_matches_config(meta, cfg, 'c30.pth',
                                           allow_new_head=True) == []


# --------------------------------------------------------------------------
# Every place that loads weights for use
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def image(files) -> Path:
    path = files['root'] / 'photo.jpg'
    Image.new('RGB', (40, 30), (200, 40, 40)).save(path)
    return path


def test_init_model_and_batch_inferencer_refuse_ten_classes(files):
    for load in (lambda: init_model(str(files['c30']), str(files['p10'])),
                 lambda: BatchInferencer(str(files['c30']), str(files['p10'])),
                 lambda: mmpretrain.get_model(str(files['c30']),
                                              pretrained=str(files['p10']))):
        with pytest.raises(CheckpointMismatchError, match='10 classes'):
            load()


def test_index_name_with_demo_checkpoint_names_the_demo_model(tmp_path):
    checkpoint, _ = save_checkpoint(DEMO_CONFIG, tmp_path / 'demo.pth')
    with pytest.raises(CheckpointMismatchError) as error:
        mmpretrain.get_model('mobilenet-v2_fruit30',
                             pretrained=str(checkpoint))
    message = str(error.value)
    assert "use the name 'mobilenet-v2_fruit30-demo'" in message
    assert '64 px' in message and '224 px' in message
    with pytest.raises(CheckpointMismatchError, match='fruit30-demo'):
        mmpretrain.ImageClassificationInferencer(
            'mobilenet-v2_fruit30', pretrained=str(checkpoint))
    model = mmpretrain.get_model('mobilenet-v2_fruit30-demo',
                                 pretrained=str(checkpoint))
    assert model._dataset_meta['classes'] == list(FRUIT30_CLASSES)


def test_infer_tool_refuses_ten_class_checkpoint(files, image):
    result = run([sys.executable, 'tools/infer.py', str(files['c30']),
                  str(files['p10']), str(image)], check=False)
    assert result.returncode == 1
    assert f"error: Checkpoint {files['p10']} does not fit" in result.stdout
    assert 'predicted' not in result.stdout


def test_export_tool_refuses_before_writing(files, tmp_path):
    out = tmp_path / 'model.onnx'
    result = run([sys.executable, 'tools/deploy/export_onnx.py',
                  str(files['c30']), str(files['pres']), '--out', str(out)],
                 check=False)
    assert result.returncode == 1
    assert 'ResNet-18' in result.stdout and 'MobileNetV2' in result.stdout
    assert not out.exists()


def test_publish_refuses_head_that_does_not_match_class_list(files, tmp_path):
    state = _load(files['p10'])
    state['meta']['dataset_meta']['classes'] = list(FRUIT30_CLASSES)
    bad = tmp_path / 'bad.pth'
    torch.save(state, bad)
    result = run([sys.executable, 'tools/deploy/publish_model.py', str(bad),
                  str(tmp_path / 'out')], check=False)
    assert result.returncode == 1
    assert 'its head has 10 classes but meta.dataset_meta lists 30' in \
        result.stdout
    assert not (tmp_path / 'out').exists() or \
        not list((tmp_path / 'out').iterdir())


def test_mim_test_refuses_ten_class_checkpoint(files, fruit_tree, tmp_path):
    config = tiny_cfg(tmp_path, fruit_tree)
    result = run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
                  str(files['p10']), '--work-dir', str(tmp_path / 'work')],
                 cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert f"Checkpoint {files['p10']} does not fit this model's head" in \
        result.stdout
    assert 'accuracy/top1' not in result.stdout


def test_inferencer_with_a_built_model_checks_the_checkpoint(files):
    model = mmpretrain.get_model(str(files['c30']))
    with pytest.raises(CheckpointMismatchError, match='10 classes'):
        mmpretrain.ImageClassificationInferencer(
            model, pretrained=str(files['p10']))
    inferencer = mmpretrain.ImageClassificationInferencer(
        model, pretrained=str(files['p30']))
    key = 'head.fc.bias'
    assert torch.equal(inferencer.model.state_dict()[key],
                       _load(files['p30'])['state_dict'][key])


def test_other_input_size_is_a_warning_on_the_terminal(tmp_path, image):
    checkpoint, _ = save_checkpoint(DEMO_CONFIG, tmp_path / 'demo.pth')
    main = DEMO_CONFIG.parent / 'mobilenet-v2_fruit.py'
    result = run([sys.executable, 'tools/infer.py', str(main),
                  str(checkpoint), str(image)])
    assert f'WARNING - Checkpoint {checkpoint} was made for 64 px input' \
        in result.stdout
    assert 'feeds 224 px' in result.stdout and '1 predicted' in result.stdout


def test_fine_tuning_load_from_reinitialises_the_head(files, fruit_tree,
                                                      tmp_path):
    config = tiny_cfg(tmp_path, fruit_tree, extra=f'''
load_from = {str(files['p10'])!r}
train_dataloader['batch_size'] = 30
''')
    result = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                  str(tmp_path / 'work')], cwd=tmp_path)
    assert f"head re-initialised: 10 → 30 classes ({files['p10']}" in \
        result.stdout
    assert 'accuracy/top1' in result.stdout


def test_fine_tuning_from_another_architecture_stops(files, fruit_tree,
                                                     tmp_path):
    config = tiny_cfg(tmp_path, fruit_tree,
                      extra=f"load_from = {str(files['pres'])!r}")
    result = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                  str(tmp_path / 'work')], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert f"Checkpoint {files['pres']} does not fit this model" in \
        result.stdout
    assert 'ResNet-18' in result.stdout
    assert not list((tmp_path / 'work').glob('*.pth'))


def test_class_list_that_does_not_match_the_head_is_refused(files,
                                                            tmp_path):
    state = _load(files['p30'])
    state['meta']['dataset_meta']['classes'] = list(FRUIT30_CLASSES[:10])
    odd = tmp_path / 'odd.pth'
    torch.save(state, odd)
    with pytest.raises(CheckpointMismatchError,
                       match='lists 10 class names in meta.dataset_meta but '
                       'its head has 30 outputs'):
        init_model(str(files['c30']), str(odd))


def test_image_demo_refuses_ten_class_checkpoint(files, image):
    result = run([sys.executable, 'tools/image_demo.py', str(image),
                  str(files['c30']), str(files['p10'])], check=False)
    assert result.returncode == 1
    assert f"error: Checkpoint {files['p10']} does not fit" in result.stdout
