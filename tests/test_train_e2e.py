"""End to end through real `mim` processes on tiny generated images."""
import json
import re
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain import inference_model
from mmpretrain.registry import MODELS

from conftest import run, tiny_config
from fruit_ext.apis import init_model, show_result_pyplot
from fruit_ext.datasets import FRUIT30_CLASSES


@pytest.fixture(scope='module')
def trained(tmp_path_factory, fruit_tree):
    """One real `mim train` run: (config, work_dir, log text)."""
    root = tmp_path_factory.mktemp('train')
    config = tiny_config(root / 'tiny.py', fruit_tree)
    work_dir = root / 'work'
    result = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                  str(work_dir)], cwd=root)
    return config, work_dir, result.stdout


def test_mim_train_writes_checkpoints_and_logs_lr(trained):
    _, work_dir, log = trained
    assert (work_dir / 'epoch_1.pth').is_file()
    assert list(work_dir.glob('best_accuracy_top1_epoch_1.pth'))
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'epoch_1.pth')
    # batch 16 on one process: 0.045 x 16 / 256
    assert 'Learning rate in use: 0.0028125' in log
    assert 'base_batch_size 256' in log
    checkpoint = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    dataset_meta = checkpoint['meta']['dataset_meta']
    assert tuple(dataset_meta['classes']) == FRUIT30_CLASSES
    assert tuple(dataset_meta['aliases'])[-1] == 'cucumber'


def test_resume_continues_from_last_epoch(trained, tmp_path):
    config, work_dir, _ = trained
    result = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                  str(work_dir), '--resume', '--cfg-options',
                  'train_cfg.max_epochs=2'], cwd=tmp_path)
    assert 'resumed epoch: 1' in result.stdout
    assert 'Epoch(train) [1]' not in result.stdout
    assert 'Epoch(train) [2]' in result.stdout
    assert (work_dir / 'epoch_2.pth').is_file()


def test_load_from_imagenet_shaped_checkpoint_then_mim_test(
        tmp_path, fruit_tree):
    config = tiny_config(tmp_path / 'ft.py', fruit_tree, work_extra=(
        'model = dict(backbone=dict(widen_factor=1.0))\n'
        'optim_wrapper = dict(optimizer=dict(lr=0.0))\n'))
    # An ImageNet-shaped MobileNetV2 checkpoint: 1000-way head, plain
    # state_dict + meta, like the official file.
    model_cfg = Config.fromfile(str(config)).model
    model_cfg.head.num_classes = 1000
    imagenet_model = MODELS.build(model_cfg)
    pretrained = tmp_path / 'mobilenet_v2_imagenet_like.pth'
    torch.save({'state_dict': imagenet_model.state_dict(),
                'meta': {'epoch': 300}}, pretrained)
    work_dir = tmp_path / 'work'
    result = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                  str(work_dir), '--cfg-options', f'load_from={pretrained}'],
                 cwd=tmp_path)
    assert f'Load checkpoint from {pretrained}' in result.stdout
    assert 'size mismatch for head.fc.weight' in result.stdout
    tuned = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    assert tuned['state_dict']['head.fc.weight'].shape == (30, 1280)
    key = 'backbone.conv1.conv.weight'
    assert torch.equal(tuned['state_dict'][key],
                       imagenet_model.state_dict()[key])

    tested = run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
                  str(work_dir / 'epoch_1.pth'), '--work-dir',
                  str(tmp_path / 'test')], cwd=tmp_path)
    assert 'accuracy/top1' in tested.stdout


def test_mim_train_two_processes_on_cpu(tmp_path, fruit_tree):
    config = tiny_config(tmp_path / 'dist.py', fruit_tree)
    work_dir = tmp_path / 'work'
    result = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                  str(work_dir), '--launcher', 'pytorch', '--gpus', '2'],
                 cwd=tmp_path)
    if not torch.cuda.is_available():
        assert "uses the 'gloo' backend" in result.stdout
    # the environment dump goes to the log file only (quiet console)
    log_file = next(work_dir.glob('*/*.log'))
    assert 'Distributed training: True' in log_file.read_text()
    # world size 2 x batch 16: 0.045 x 32 / 256
    assert 'Learning rate in use: 0.005625' in result.stdout
    assert (work_dir / 'epoch_1.pth').is_file()


def test_inference_model_with_init_model(trained, fruit_tree, tmp_path):
    config, work_dir, _ = trained
    model = init_model(str(config), str(work_dir / 'epoch_1.pth'))
    image = next((fruit_tree / 'val' / '香蕉').glob('*.jpg'))
    result = inference_model(model, str(image))
    assert result['pred_class'] in FRUIT30_CLASSES
    assert result['pred_scores'].shape == (30, )
    out = tmp_path / 'pred.png'
    drawn = show_result_pyplot(model, str(image), result, out_file=str(out),
                               resize=128)
    assert out.stat().st_size > 0 and drawn.shape[:2] == (128, 128)


def test_image_demo_tool_prints_prediction(trained, fruit_tree, tmp_path):
    config, work_dir, _ = trained
    image = next((fruit_tree / 'val' / '苹果-红').glob('*.jpg'))
    out = tmp_path / 'demo.png'
    checkpoint = str(work_dir / 'epoch_1.pth')
    result = run([sys.executable, 'tools/image_demo.py', str(image),
                  str(config), checkpoint, '--out-file', str(out)])
    assert '"pred_class"' in result.stdout and out.is_file()
    printed = json.loads(
        re.search(r'\{"pred_label"[^{}]*\}', result.stdout).group())
    assert printed['pred_class'] in FRUIT30_CLASSES
    assert FRUIT30_CLASSES[printed['pred_label']] == printed['pred_class']
    assert 0.0 <= printed['pred_score'] <= 1.0
    # the same prediction as the Python API on the same image
    expected = inference_model(init_model(str(config), checkpoint),
                               str(image))
    assert printed['pred_class'] == expected['pred_class']
    assert printed['pred_score'] == pytest.approx(expected['pred_score'],
                                                  abs=1e-4)


def test_missing_checkpoint_is_a_clear_error(trained, tmp_path):
    config, _, _ = trained
    missing = tmp_path / 'no_such.pth'
    result = run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
                  str(missing)], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert f'Checkpoint file not found: {missing}' in result.stdout


def test_mim_test_refuses_malicious_checkpoint(trained, tmp_path):
    config, _, _ = trained
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    payload = ('import torch, pathlib\n'
               'class P:\n'
               '    def __reduce__(self):\n'
               f'        return (pathlib.Path.touch, (pathlib.Path({str(marker)!r}),))\n'
               f'torch.save({{"state_dict": {{}}, "p": P()}}, {str(evil)!r})\n')
    run([sys.executable, '-c', payload])
    result = run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
                  str(evil)], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert 'Refusing to unpickle checkpoint' in result.stdout
    assert 'FRUIT_EXT_TRUSTED_CHECKPOINTS' in result.stdout
    assert not marker.exists()
