"""best.pth / last.pth kept right by CheckpointLinksHook, in real runs."""
import os
from pathlib import Path

import pytest
import torch

from conftest import run, tiny_config
from fruit_ext.engine.hooks.checkpoint_links_hook import (link_target,
                                                          replace_link)

# A validation score that rises at every validation, also across a resume
# (it is the iteration count), so the best checkpoint moves each time and
# CheckpointHook deletes the previous one.
SCORE_PLUGIN = '''
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub
from mmpretrain.registry import METRICS


@METRICS.register_module()
class IterScore(BaseMetric):
    default_prefix = 'score'

    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        return {'iter': float(MessageHub.get_current_instance().get_info(
            'iter'))}
'''

LINKED = '''
custom_imports = dict(imports=['fruit_ext', 'iter_score'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='CheckpointLinksHook')]
val_evaluator = [dict(type='Accuracy', topk=(1, 5)), dict(type='IterScore')]
'''


def linked_config(tmp_path: Path, data_root: Path, extra: str) -> Path:
    """A tiny config with CheckpointLinksHook and a rising val score."""
    (tmp_path / 'iter_score.py').write_text(SCORE_PLUGIN)
    return tiny_config(tmp_path / 'linked.py', data_root,
                       work_extra=LINKED + extra)


def mim_train(config: Path, work_dir: Path, *args: str) -> str:
    """Run `mim train` with the score plugin importable; return its output."""
    return run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                str(work_dir), *args], cwd=config.parent,
               env={'PYTHONPATH': str(config.parent)}).stdout


def assert_no_dangling(work_dir: Path) -> None:
    """Every link in the work dir resolves; no temporary file is left."""
    for path in work_dir.iterdir():
        if path.is_symlink():
            assert path.exists(), f'{path} dangles -> {os.readlink(path)}'
        assert not path.name.endswith('.tmp'), path


def assert_points(link: Path, name: str) -> None:
    """``link`` is a relative symlink to ``name`` that loads weights-only."""
    assert link.is_symlink(), f'{link} is not a symlink'
    assert not os.path.isabs(os.readlink(link))
    assert Path(link_target(str(link))).name == name
    checkpoint = torch.load(link, weights_only=True)
    assert 'state_dict' in checkpoint


@pytest.fixture(scope='module')
def epoch_run(tmp_path_factory, fruit_tree):
    """3 epochs, max_keep_ckpts=1, best moving every epoch."""
    root = tmp_path_factory.mktemp('links')
    config = linked_config(root, fruit_tree, (
        "default_hooks = dict(checkpoint=dict(max_keep_ckpts=1, "
        "save_best='score/iter', rule='greater'))\n"
        'train_cfg = dict(max_epochs=3)\n'))
    work_dir = root / 'work'
    return config, work_dir, mim_train(config, work_dir)


def test_epoch_run_links_follow_best_and_last(epoch_run):
    _, work_dir, log = epoch_run
    assert_points(work_dir / 'last.pth', 'epoch_3.pth')
    assert_points(work_dir / 'best.pth', 'best_score_iter_epoch_3.pth')
    # the old files are gone (max_keep_ckpts=1, a better best each epoch)
    assert not (work_dir / 'epoch_1.pth').exists()
    assert not list(work_dir.glob('best_score_iter_epoch_[12].pth'))
    assert_no_dangling(work_dir)
    assert 'best.pth -> best_score_iter_epoch_2.pth (symlink)' in log


def test_resume_repairs_and_keeps_links(epoch_run, fruit_tree):
    config, work_dir, _ = epoch_run
    # A stale name as a crash could leave it: last.pth -> a deleted file.
    stale = work_dir / 'epoch_0.pth'
    stale.write_bytes(b'')
    replace_link(str(work_dir / 'last.pth'), str(stale))
    stale.unlink()
    log = mim_train(config, work_dir, '--resume', '--cfg-options',
                    'train_cfg.max_epochs=4')
    assert 'resumed epoch: 3' in log
    # before training, the dangling name was pointed at the resumed file
    assert 'last.pth -> epoch_3.pth (symlink)' in log
    assert_points(work_dir / 'last.pth', 'epoch_4.pth')
    assert_points(work_dir / 'best.pth', 'best_score_iter_epoch_4.pth')
    assert_no_dangling(work_dir)
    tested = run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
                  str(work_dir / 'best.pth'), '--work-dir',
                  str(work_dir.parent / 'test')], cwd=config.parent,
                 env={'PYTHONPATH': str(config.parent)})
    assert 'accuracy/top1' in tested.stdout


def test_iteration_checkpoints_get_links(tmp_path, fruit_tree):
    config = linked_config(tmp_path, fruit_tree, (
        'train_cfg = dict(_delete_=True, type="IterBasedTrainLoop", '
        'max_iters=4, val_interval=2)\n'
        'param_scheduler = dict(_delete_=True, type="ConstantLR", '
        'factor=1.0, by_epoch=False)\n'
        "default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2, "
        "max_keep_ckpts=1, save_best='score/iter', rule='greater'))\n"))
    work_dir = tmp_path / 'work'
    mim_train(config, work_dir)
    assert_points(work_dir / 'last.pth', 'iter_4.pth')
    assert_points(work_dir / 'best.pth', 'best_score_iter_iter_4.pth')
    assert not (work_dir / 'iter_2.pth').exists()
    assert_no_dangling(work_dir)


def test_replace_link_is_atomic_and_relative(tmp_path):
    (tmp_path / 'a.pth').write_bytes(b'a')
    (tmp_path / 'b.pth').write_bytes(b'b')
    link = tmp_path / 'best.pth'
    assert replace_link(str(link), str(tmp_path / 'a.pth')) == 'symlink'
    assert replace_link(str(link), str(tmp_path / 'b.pth')) == 'symlink'
    assert os.readlink(link) == 'b.pth' and link.read_bytes() == b'b'
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'a.pth', 'b.pth', 'best.pth']


def test_replace_link_copies_where_symlinks_fail(tmp_path, monkeypatch):
    (tmp_path / 'a.pth').write_bytes(b'a')

    def refuse(*args, **kwargs):
        raise OSError(1, 'Operation not permitted')

    # a file system without symbolic links (FAT, some network shares)
    monkeypatch.setattr(os, 'symlink', refuse)
    link = tmp_path / 'last.pth'
    assert replace_link(str(link), str(tmp_path / 'a.pth')) == 'copy'
    assert not link.is_symlink() and link.read_bytes() == b'a'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.pth', 'last.pth']


def test_two_names_must_differ():
    from fruit_ext.engine.hooks import CheckpointLinksHook
    with pytest.raises(ValueError, match='two different names'):
        CheckpointLinksHook(best_name='x.pth', last_name='x.pth')


def test_two_processes_write_the_links_once(tmp_path, fruit_tree):
    config = linked_config(tmp_path, fruit_tree, (
        "default_hooks = dict(checkpoint=dict(save_best='score/iter', "
        "rule='greater'))\n"))
    work_dir = tmp_path / 'work'
    log = mim_train(config, work_dir, '--launcher', 'pytorch', '--gpus', '2')
    full_log = next(work_dir.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in full_log
    assert log.count('last.pth -> epoch_1.pth') == 1  # rank 0 only
    assert_points(work_dir / 'last.pth', 'epoch_1.pth')
    assert_points(work_dir / 'best.pth', 'best_score_iter_epoch_1.pth')
    assert_no_dangling(work_dir)
