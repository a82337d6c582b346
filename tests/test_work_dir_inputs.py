"""A work dir alone is enough for every tool; tools/infer.py checks its flags.

The work dirs here are laid out as ``mim train`` writes them: the config as
mmengine dumps it (``Config.dump``, what ``Runner.dump_config`` calls), and
checkpoints as ``Runner.save_checkpoint`` stores them (no optimizer).
"""
import os
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from PIL import Image

from checkpoint_helpers import save_checkpoint, tiny_cfg
from conftest import run
from fruit_ext.apis import BatchInferencer, init_model
from fruit_ext.apis.work_dir import WorkDirError, resolve_model_files
from fruit_ext.datasets import FRUIT30_CLASSES


def make_work_dir(root: Path, config: Path, names=('epoch_1.pth', )
                  ) -> Path:
    """A work dir: dumped config, checkpoints, ``last_checkpoint``."""
    work = root / 'work'
    work.mkdir(parents=True, exist_ok=True)
    Config.fromfile(str(config)).dump(str(work / config.name))
    for seed, name in enumerate(names):
        save_checkpoint(config, work / name, seed=seed)
        time.sleep(0.01)
    (work / 'last_checkpoint').write_text(str(work / names[-1]))
    return work


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('workdir')
    config = tiny_cfg(root, root / 'data')
    work = make_work_dir(root, config, ('epoch_1.pth', 'epoch_2.pth',
                                        'best_accuracy_top1_epoch_1.pth'))
    image = root / 'photo.jpg'
    Image.new('RGB', (40, 30), (200, 40, 40)).save(image)
    return dict(root=root, config=config, work=work, image=image)


def test_resolve_prefers_best_link_then_best_then_last(tmp_path, setup):
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'tiny.py').write_text((setup['work'] / 'tiny.py').read_text())
    with pytest.raises(WorkDirError, match=f'Work dir {work} has no '
                       'checkpoint: looked for best.pth, best_'):
        resolve_model_files(str(work))
    (work / 'epoch_3.pth').write_bytes(b'x')
    (work / 'last_checkpoint').write_text('/elsewhere/run/epoch_3.pth')
    assert resolve_model_files(str(work)) == (str(work / 'tiny.py'),
                                              str(work / 'epoch_3.pth'))
    (work / 'last.pth').write_bytes(b'x')
    assert resolve_model_files(str(work))[1] == str(work / 'last.pth')
    for name in ('best_accuracy_top1_epoch_1.pth',
                 'best_accuracy_top1_epoch_2.pth'):
        (work / name).write_bytes(b'x')
        time.sleep(0.01)
    assert resolve_model_files(str(work))[1] == str(
        work / 'best_accuracy_top1_epoch_2.pth')
    os.symlink('best_accuracy_top1_epoch_1.pth', work / 'best.pth')
    assert resolve_model_files(str(work))[1] == str(work / 'best.pth')
    assert resolve_model_files(str(work), 'epoch_3.pth')[1] == str(
        work / 'epoch_3.pth')


def test_work_dir_without_config_is_named(tmp_path):
    with pytest.raises(WorkDirError, match=f'Work dir {tmp_path} has no '
                       'dumped config'):
        resolve_model_files(str(tmp_path))


def test_init_model_and_batch_inferencer_take_a_work_dir(setup):
    model = init_model(str(setup['work']))
    best = torch.load(setup['work'] / 'best_accuracy_top1_epoch_1.pth',
                      weights_only=True)['state_dict']
    key = 'backbone.conv1.conv.weight'
    assert torch.equal(model.state_dict()[key], best[key])
    assert model._dataset_meta['classes'] == list(FRUIT30_CLASSES)
    inferencer = BatchInferencer(str(setup['work']))
    predictions, _ = inferencer.predict([str(setup['image'])], progress=False)
    assert predictions[0].pred_class in FRUIT30_CLASSES


def _infer(*args, check=True):
    return run([sys.executable, 'tools/infer.py', *map(str, args)],
               check=check)


def test_infer_tool_work_dir_and_old_form_agree(setup, tmp_path):
    best = setup['work'] / 'best_accuracy_top1_epoch_1.pth'
    new = _infer(setup['work'], setup['image'], '--out', tmp_path / 'a.json')
    old = _infer(setup['config'], best, setup['image'], '--out',
                 tmp_path / 'b.json')
    assert '1 predicted' in new.stdout and '1 predicted' in old.stdout
    assert (tmp_path / 'a.json').read_text() == \
        (tmp_path / 'b.json').read_text()
    other = _infer(setup['work'], setup['work'] / 'epoch_2.pth',
                   setup['image'], '--out', tmp_path / 'c.json')
    assert '1 predicted' in other.stdout


@pytest.mark.parametrize('flags, message', [
    (['--batch-size', '0'],
     "argument --batch-size: must be a whole number >= 1, got '0'"),
    (['--topk', 'x'], "argument --topk: must be a whole number >= 1, got 'x'"),
    (['--threshold', '1.5'], 'argument --threshold: must be a score between '
     "0 and 1, got '1.5'"),
    (['--device', 'cuda'], '--device cuda: this host has no usable CUDA'),
    (['--out', 'FILE/sub/pred.csv'], 'is a file, so no folder can be made'),
    (['--show-dir', 'FILE'], 'is a file, not a folder'),
])
def test_infer_flags_refused_at_parse_time(setup, flags, message):
    if torch.cuda.is_available() and 'cuda' in flags:
        pytest.skip('this host has CUDA')
    flags = [str(setup['image']) + f[4:] if f.startswith('FILE') else f
             for f in flags]
    # a checkpoint that does not exist: the flags must fail before loading
    result = _infer(setup['config'], setup['root'] / 'missing.pth',
                    setup['image'], *flags, check=False)
    assert result.returncode == 2, result.stdout
    assert message in result.stdout
    assert 'Checkpoint file not found' not in result.stdout


def test_infer_tool_without_checkpoint_after_config_is_a_usage_error(setup):
    result = _infer(setup['config'], setup['image'], check=False)
    assert result.returncode == 2
    assert 'is not a work dir, so a CHECKPOINT' in result.stdout


def test_infer_tool_empty_work_dir_is_named(tmp_path, setup):
    result = _infer(tmp_path, setup['image'], check=False)
    assert result.returncode == 1
    assert f'error: Work dir {tmp_path} has no dumped config' in result.stdout


def test_export_and_image_demo_take_a_work_dir(setup, tmp_path):
    out = tmp_path / 'm.onnx'
    result = run([sys.executable, 'tools/deploy/export_onnx.py',
                  str(setup['work']), '--out', str(out)])
    assert out.is_file() and '30 classes' in result.stdout
    demo = run([sys.executable, 'tools/image_demo.py', str(setup['image']),
                str(setup['work'])])
    assert '"pred_class"' in demo.stdout


def test_eval_report_takes_a_work_dir(fruit_tree, tmp_path):
    config = tiny_cfg(tmp_path, fruit_tree)
    work = make_work_dir(tmp_path, config)
    result = run([sys.executable, 'tools/analysis/eval_report.py', str(work),
                  '--split', 'val', '--out-dir', str(tmp_path / 'report')])
    assert "30 images of split 'val'" in result.stdout
    assert (tmp_path / 'report').is_dir()


def test_infer_tool_points_an_onnx_model_to_the_predictor(setup, tmp_path):
    result = _infer(tmp_path / 'fruit.onnx', setup['image'], check=False)
    assert result.returncode == 2
    assert 'fruit.onnx is an ONNX model: run it with the ONNX Predictor' in \
        result.stdout
