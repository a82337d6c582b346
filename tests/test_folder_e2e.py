"""Your own folder in one command, through real `mim train` processes."""
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from conftest import BIN, REPO, run, write_class_tree

FOLDER_CONFIG = 'configs/folder/mobilenet-v2_folder.py'
# small and quick: a narrow MobileNetV2 at 32 px, no download
TINY = [
    'load_from=None', 'train_cfg.max_epochs=1',
    'model.backbone.widen_factor=0.35', 'model.head.in_channels=1280',
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
    'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
    'train_dataloader.dataset.pipeline.1.scale=32',
    'val_dataloader.dataset.pipeline.0.min_size=0',
    'val_dataloader.dataset.pipeline.1.scale=36',
    'val_dataloader.dataset.pipeline.2.crop_size=32',
    'default_hooks.logger.interval=1',
]


def flat_folder(root: Path, classes=('apple', 'kiwi', 'plum'),
                count: int = 5) -> Path:
    """``root/<class>/*.jpg`` with no split folders."""
    write_class_tree(root, classes=classes, per_split={'train': count},
                     size=24)
    for name in classes:
        shutil.move(str(root / 'train' / name), str(root / name))
    (root / 'train').rmdir()
    return root


def train(config: str, work_dir: Path, *options: str, extra=(),
          check: bool = True):
    return run([str(BIN / 'mim'), 'train', 'mmpretrain', config,
                '--work-dir', str(work_dir), *extra,
                '--cfg-options', *TINY, *options], check=check)


def test_own_folder_trains_and_predicts_by_work_dir(tmp_path):
    photos = flat_folder(tmp_path / 'photos')
    work = tmp_path / 'work'
    log = train(FOLDER_CONFIG, work, f'data_root={photos}').stdout
    assert '3 classes: apple, kiwi, plum' in log
    assert re.search(r'train data: 12 images, 3 classes', log)
    assert re.search(r'val data: 3 images, 3 classes', log)
    assert 'accuracy/top1' in log and 'top5' not in log
    assert f"val split recorded in {work / 'holdout_split.json'}" in log
    best = work / 'best.pth'
    assert best.exists()
    assert list(torch.load(best, weights_only=True)['meta']['dataset_meta'][
        'classes']) == ['apple', 'kiwi', 'plum']
    image = next((photos / 'kiwi').iterdir())
    out = tmp_path / 'pred.json'
    run([str(BIN / 'python'), 'tools/infer.py', str(work), str(image),
         '--out', str(out)])
    prediction = json.loads(out.read_text())['predictions'][0]
    assert prediction['pred_class'] in ('apple', 'kiwi', 'plum')


def test_own_folder_trains_with_two_processes(tmp_path):
    photos = flat_folder(tmp_path / 'photos')
    work = tmp_path / 'work'
    log = train(FOLDER_CONFIG, work, f'data_root={photos}',
                extra=['--launcher', 'pytorch', '--gpus', '2']).stdout
    assert re.search(r'\(2 process(es)? x 4 images', log), log[-3000:]
    assert (work / 'best.pth').exists()
    recorded = json.loads((work / 'holdout_split.json').read_text())
    assert sum(map(len, recorded['files']['val'].values())) == 3


def test_demo_config_trains_on_the_data_root_given(tmp_path):
    """The README's override: data_root=X reaches train and val."""
    mine = write_class_tree(tmp_path / 'mine', per_split={'train': 1,
                                                          'val': 1}, size=24)
    log = train('configs/mobilenet-v2_fruit_demo.py', tmp_path / 'work',
                f'data_root={mine}',
                'train_dataloader.dataset.pipeline.1.scale=32',
                'val_dataloader.dataset.pipeline.1.scale=36').stdout
    assert f"train data: 30 images, 30 classes, data_root '{mine}'" in log
    assert f"val data: 30 images, 30 classes, data_root '{mine}'" in log


def test_too_many_folders_for_the_head_fails_before_training(tmp_path):
    names = [f'class{i:02d}' for i in range(31)]
    mine = write_class_tree(tmp_path / 'mine', classes=names,
                            per_split={'train': 1, 'val': 1}, size=8)
    result = train('configs/mobilenet-v2_fruit.py', tmp_path / 'work',
                   f'data_root={mine}',
                   'train_dataloader.dataset.classes=folders', check=False)
    assert result.returncode != 0
    assert 'The dataset has 31 classes but model.head.num_classes is 30' \
        in result.stdout
    assert not list((tmp_path / 'work').glob('*.pth'))


@pytest.mark.parametrize('resume_epochs', [4])
def test_resume_with_more_epochs_extends_the_cosine(tmp_path, resume_epochs):
    """Train 2 of a 2-epoch cosine, resume to 4: the LR follows the 4-epoch
    cosine, not the flat end of the old one."""
    photos = flat_folder(tmp_path / 'photos')
    work = tmp_path / 'work'
    options = [f'data_root={photos}', 'optim_wrapper.optimizer.lr=0.256',
               'auto_scale_lr.enable=False']
    cfg = tmp_path / 'cosine.py'
    cfg.write_text(f"_base_ = {str(REPO / FOLDER_CONFIG)!r}\n"
                   "param_scheduler = dict(_delete_=True, "
                   "type='CosineAnnealingLR', by_epoch=True, T_max=2, "
                   "eta_min=0.0)\ntrain_cfg = dict(max_epochs=2)\n")
    train(str(cfg), work, *options, 'train_cfg.max_epochs=2')
    log = train(str(cfg), work, *options, f'train_cfg.max_epochs={resume_epochs}',
                extra=['--resume']).stdout
    assert 'schedule extended from 2 to 4 epochs' in log
    lrs = [float(x) for x in re.findall(
        r'Epoch\(train\) \s*\[(?:3|4)\]\[\d+/\d+\]\s+lr: ([0-9.e+-]+)', log)]
    # cosine over 4 epochs of 3 iters, lr 0.256: epoch 3 starts at half
    assert lrs and 0.05 < lrs[0] < 0.2, lrs
    assert lrs[-1] < lrs[0]
