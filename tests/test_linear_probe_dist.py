"""LP-FT under 2-process CPU DDP (tools/dist_train.sh): identical heads."""
import os

import torch

from conftest import REPO, tiny_config
from test_launch_dist import free_port, launch
from test_linear_probe_hook import initial_weights

# Imported by the training processes (custom_imports): after LinearProbeHook
# (NORMAL priority) has run, every rank saves the head it holds.
RECORD_PLUGIN = '''
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class RecordHeadHook(Hook):
    priority = 'LOW'

    def before_train(self, runner):
        head = runner.model.module.head
        torch.save(head.state_dict(),
                   osp.join(runner.work_dir, f'head_rank{get_rank()}.pt'))
'''


def test_ddp_stage1_ends_with_identical_heads(tmp_path, fruit_tree,
                                              monkeypatch):
    (tmp_path / 'record_plugin.py').write_text(RECORD_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))  # the config imports it
    config = tiny_config(tmp_path / 'lpft.py', fruit_tree, work_extra=(
        "custom_imports = dict(imports=['fruit_ext', 'record_plugin'], "
        'allow_failed_imports=False)\n'
        'custom_hooks = [dict(type="LinearProbeHook", '
        'weight_decays=(1e-3, 1e-1)), dict(type="RecordHeadHook")]\n'))
    # load_from: random weights with BatchNorm statistics of random images
    # (the initial statistics give vanishing eval-mode features)
    load_from = initial_weights(tmp_path, config)
    work_dir = tmp_path / 'work'
    result = launch(['bash', str(REPO / 'tools' / 'dist_train.sh'),
                     str(config), '2', '--work-dir', str(work_dir),
                     '--cfg-options', f'load_from={load_from}'],
                    tmp_path, dict(PYTHONPATH=f'{tmp_path}{os.pathsep}{REPO}',
                                   PORT=str(free_port())))
    assert result.returncode == 0, result.stdout[-6000:]
    assert 'Distributed training: True' in result.stdout
    assert result.stdout.count('head fitted as a linear probe') == 1
    heads = [torch.load(work_dir / f'head_rank{rank}.pt', weights_only=True)
             for rank in (0, 1)]
    stage1 = torch.load(work_dir / 'linear_probe.pth',
                        weights_only=True)['state_dict']
    for key, value in heads[0].items():
        assert torch.equal(value, heads[1][key]), key
        assert torch.equal(value, stage1[f'head.{key}']), key
    # linear_probe.pth is saved after the fit (from zeros, not the random
    # init), so rank 1 holds rank 0's fit
    assert heads[1]['fc.weight'].abs().max() > 1e-3
    # features of the probe were cached in the work dir, once
    assert len(list((work_dir / 'probe_cache').glob('*.pt'))) == 2
