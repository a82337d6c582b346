"""mmpretrain's own tools, driven by the real `mim run mmpretrain TOOL`, on a
tiny config built on configs/mobilenet-v2_fruit_demo.py and a checkpoint it
trained. Every picture must draw the Chinese class names (no "Glyph ...
missing from font" warning) with the PyPI font the set-up installs."""
import json
import pickle
import sys
import zipfile
from pathlib import Path
from typing import List

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run, write_class_tree
from fruit_ext.datasets import FRUIT30_CLASSES

DEMO = REPO / 'configs' / 'mobilenet-v2_fruit_demo.py'
NO_GLYPH = 'missing from font'
ENV = {'MPLBACKEND': 'Agg'}


def demo_config(path: Path, data_root: Path, extra: str = '') -> Path:
    """A tiny config on the demo config, readable by mmpretrain's tools.

    Args:
        path: Where to write it.
        data_root: fruit30-layout image folder.
        extra: Config lines appended at the end.

    Returns:
        ``path``.
    """
    path.write_text(f'''
_base_ = {str(DEMO)!r}
data_root = {str(data_root)!r}
# mmpretrain's tools build datasets without FruitRunner, which is what
# makes a top-level data_root reach every dataloader: give it per loader.
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
model = dict(backbone=dict(widen_factor=0.35), head=dict(in_channels=1280))
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
{extra}
''')
    return path


def mim_run(tool: str, *args, cwd: Path, check: bool = True):
    """``mim run mmpretrain TOOL ARGS`` as a real process.

    Args:
        tool: mmpretrain tool name.
        *args: Its arguments.
        cwd: Working directory.
        check: Fail the test on a non-zero exit code.

    Returns:
        The completed process.
    """
    return run(['mim', 'run', 'mmpretrain', tool, *map(str, args)], cwd=cwd,
               env=ENV, check=check)


def png_size(path: Path) -> tuple:
    with Image.open(path) as image:
        return image.size


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """(config, checkpoint, folder): one real `mim train` of the demo."""
    root = tmp_path_factory.mktemp('tools')
    data = write_class_tree(root / 'fruit30', size=48)
    config = demo_config(root / 'demo_tiny.py', data)
    run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
         str(root / 'work')], cwd=root)
    return config, root / 'work' / 'epoch_1.pth', root


def test_browse_dataset_draws_pipeline_and_chinese_names(demo):
    config, _, root = demo
    out = root / 'browse'
    result = mim_run('browse_dataset', config, '-o', out, '-n', '2', '-m',
                     'pipeline', cwd=root)
    assert "_scope_='mmpretrain' dropped" in result.stdout
    assert 'adjust_bbox is given the figure' in result.stdout
    assert NO_GLYPH not in result.stdout
    pictures = sorted(out.glob('*.jpg'))
    assert len(pictures) == 2
    width, height = png_size(pictures[0])
    assert width > 3 * 64 and height > 64  # 3 pipeline steps side by side


def test_vis_scheduler_plots_the_schedule(demo):
    config, _, root = demo
    out = root / 'sched.png'
    result = mim_run('vis_scheduler', config, '-s', out, '--not-show',
                     '--window-size', '8*5', cwd=root)
    assert png_size(out) == (800, 500)
    # the plotted LR is the config's: vis_scheduler skips auto_scale_lr
    assert 'Learning rate in use: 0.016, NOT scaled' in result.stdout


def test_verify_dataset_lists_broken_files(tmp_path):
    data = write_class_tree(tmp_path / 'fruit30', per_split={'train': 1},
                            size=16)
    broken = data / 'train' / FRUIT30_CLASSES[3] / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    # verify_dataset looks for a transform named exactly LoadImageFromFile
    # (the demo's RobustLoadImageFromFile fails its assertion).
    config = demo_config(tmp_path / 'stock_loader.py', data, extra=(
        "train_dataloader = dict(dataset=dict(data_root=data_root, "
        "pipeline=[dict(type='LoadImageFromFile'), "
        "dict(type='PackInputs')]))"))
    out = tmp_path / 'broken.txt'
    result = mim_run('verify_dataset', config, '--out-path', out,
                     cwd=tmp_path)
    assert '1 broken files found' in result.stdout
    assert out.read_text().split() == [str(broken)]
    demo_cfg = demo_config(tmp_path / 'demo_loader.py', data)
    refused = mim_run('verify_dataset', demo_cfg, '--out-path', out,
                      cwd=tmp_path, check=False)
    assert refused.returncode != 0
    assert 'only for datasets needs to load image from files' in \
        refused.stdout
    # the documented replacement finds the same file, on any pipeline
    checked = run([sys.executable, 'tools/dataset/check.py', str(data),
                   '--workers', '1', '--min-size', '8', '--report',
                   str(tmp_path / 'report.json')], check=False)
    assert checked.returncode == 1 and 'broken.jpg' in checked.stdout


def test_vis_cam_writes_heatmap(demo):
    config, checkpoint, root = demo
    image = sorted((root / 'fruit30' / 'val' / '香蕉').glob('*.jpg'))[0]
    out = root / 'cam.png'
    result = mim_run('vis_cam', image, config, checkpoint, '--save-path', out,
                     '--device', 'cpu', cwd=root)
    assert 'use_cuda is dropped' in result.stdout
    assert png_size(out) == (64, 64)  # the demo's 64 px test input
    assert np.asarray(Image.open(out)).std() > 0


def test_vis_tsne_writes_features_and_plot(demo):
    config, checkpoint, root = demo
    out = root / 'tsne'
    result = mim_run('vis_tsne', config, '--checkpoint', checkpoint,
                     '--work-dir', out, '--max-num-class', '5',
                     '--perplexity', '2', '--n-iter', '250', '--legend',
                     '--device', 'cpu', cwd=root)
    assert 'n_iter is passed as max_iter' in result.stdout
    assert NO_GLYPH not in result.stdout  # the legend's class names
    features = list(out.glob('*/feat_*.npy'))
    assert len(features) == 1
    assert np.load(features[0]).shape == (5, 1280)  # 5 classes x 1 image
    assert png_size(features[0].with_suffix('.png')) == (1000, 1000)


def test_confusion_matrix_draws_chinese_names(demo):
    config, checkpoint, root = demo
    out = root / 'cm.png'
    result = mim_run('confusion_matrix', config, checkpoint, '--show-path',
                     out, '--out', root / 'cm.pkl', cwd=root)
    assert NO_GLYPH not in result.stdout
    assert png_size(out) == (1000, 1000)
    with open(root / 'cm.pkl', 'rb') as file:
        matrix = pickle.load(file)
    assert tuple(matrix.shape) == (30, 30) and int(matrix.sum()) == 30


def test_analyze_results_writes_success_and_fail(demo):
    config, checkpoint, root = demo
    results = root / 'results.pkl'
    run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
         str(checkpoint), '--out', str(results), '--work-dir',
         str(root / 'test')], cwd=root)
    out = root / 'analyze'
    result = mim_run('analyze_results', config, results, '--out-dir', out,
                     '--topk', '3', cwd=root)
    assert NO_GLYPH not in result.stdout
    assert 'pictures are named <sample index>_<file name>.png' in \
        result.stdout
    listed: List[dict] = []
    for kind in ('success', 'fail'):
        entries = json.loads((out / kind / f'{kind}.json').read_text())
        pictures = sorted(path.name for path in (out / kind).glob('*.png'))
        # one entry and one picture per image, although every class folder
        # holds a 0.jpg
        assert len({item['sample_idx'] for item in entries}) == len(entries)
        assert pictures == sorted(f'{item["sample_idx"]}_0.jpg.png'
                                  for item in entries)
        assert len(entries) <= 3  # --topk
        listed += entries
    assert len(listed) >= 3  # 30 val images, success + fail
    assert all(len(item['pred_score']) == 30 for item in listed)


def test_get_flops_prints_numbers(demo):
    config, _, root = demo
    result = mim_run('get_flops', config, '--shape', '64', cwd=root)
    assert 'Flops: 5.208M' in result.stdout
    assert 'Params: 0.435M' in result.stdout


def test_kfold_cross_valid_trains_one_fold(demo):
    config, _, root = demo
    out = root / 'kfold'
    result = mim_run('kfold-cross-valid', config, '--num-splits', '2',
                     '--fold', '0', '--work-dir', out, cwd=root)
    assert 'accuracy/top1' in result.stdout
    assert (out / 'fold0' / 'epoch_1.pth').is_file()


def test_mmpretrain2torchserve_writes_mar(demo):
    config, checkpoint, root = demo
    out = root / 'serve'
    result = mim_run('mmpretrain2torchserve', config, checkpoint,
                     '--output-folder', out, '--model-name', 'fruit',
                     cwd=root)
    assert 'config_file=None added' in result.stdout
    with zipfile.ZipFile(out / 'fruit.mar') as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read('MAR-INF/MANIFEST.json'))
        dumped = archive.read('config.py').decode()
    assert {'config.py', 'epoch_1.pth', 'mmpretrain_handler.py'} <= names
    assert manifest['model']['modelName'] == 'fruit'
    assert 'fruit_ext' in dumped  # custom_imports: the server needs it
