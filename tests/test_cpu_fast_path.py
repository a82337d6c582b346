"""CPU fast path (bf16 autocast + channels-last) chosen by FruitRunner."""
import logging
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper

from conftest import tiny_config
from fruit_ext.engine.cpu_fast_path import (apply_cpu_fast_path,
                                            native_bf16_flags)
from fruit_ext.engine.heap_malloc import glibc_version, process_choice
from fruit_ext.engine.runner import FruitRunner

pytestmark = [
    pytest.mark.usefixtures('one_thread'),
    pytest.mark.skipif(torch.accelerator.is_available(),
                       reason='the fast path is for CPU-only hosts')]


@pytest.fixture
def cpuinfo(tmp_path):
    """Write a /proc/cpuinfo with the given flags; return its path."""
    def write(flags: str) -> str:
        path = tmp_path / 'cpuinfo'
        path.write_text(f'processor\t: 0\nflags\t\t: fpu sse2 {flags}\n\n')
        return str(path)
    return write


def _cfg(**extra) -> Config:
    # the allocator part has its own tests (test_heap_malloc.py)
    return Config(dict(dict(
        cpu_heap_malloc=False, train_dataloader=dict(batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        custom_hooks=[dict(type='ChannelsLastHook')]), **extra))


def test_flags_detected(cpuinfo):
    assert native_bf16_flags(cpuinfo('avx512f avx512_bf16')) == \
        ['avx512_bf16']
    assert native_bf16_flags(cpuinfo('amx_bf16 avx512_bf16')) == \
        ['amx_bf16', 'avx512_bf16']
    assert native_bf16_flags(cpuinfo('avx2 avx512_vnni')) == []
    assert native_bf16_flags('/nonexistent/cpuinfo') == []


def test_on_with_native_bf16_and_says_how_to_turn_it_off(cpuinfo):
    cfg = _cfg()
    line = apply_cpu_fast_path(cfg, cpuinfo('amx_bf16'))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.custom_hooks == [dict(type='ChannelsLastHook', enable=True)]
    assert 'amx_bf16' in line and 'cpu_fast_path=False' in line


@pytest.mark.parametrize('wrapped', [False, True])
def test_off_for_small_training_crops_unless_forced(cpuinfo, wrapped):
    """bf16 + channels-last lose at 64 px (docs/benchmarks.md): the automatic
    choice leaves them off, says so, and cpu_fast_path=True forces them."""
    dataset = dict(pipeline=[dict(type='LoadImageFromFile'),
                             dict(type='RandomResizedCrop', scale=64)])
    if wrapped:
        dataset = dict(type='ClassBalancedDataset', dataset=dataset)
    small = _cfg(train_dataloader=dict(batch_size=2, dataset=dataset))
    line = apply_cpu_fast_path(small, cpuinfo('avx512_bf16'))
    assert small.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'
    assert small.custom_hooks == [dict(type='ChannelsLastHook')]
    assert 'left off for 64 px training' in line
    assert 'cpu_fast_path=True' in line
    forced = _cfg(cpu_fast_path=True,
                  train_dataloader=dict(batch_size=2, dataset=dataset))
    assert 'bfloat16 autocast' in apply_cpu_fast_path(forced,
                                                      cpuinfo('avx512_bf16'))
    large = _cfg(train_dataloader=dict(batch_size=2, dataset=dict(
        pipeline=[dict(type='FastRandomResizedCrop', scale=(224, 224))])))
    assert 'bfloat16 autocast' in apply_cpu_fast_path(large,
                                                      cpuinfo('avx512_bf16'))


def test_nothing_changes_without_native_bf16(cpuinfo):
    cfg = _cfg()
    assert apply_cpu_fast_path(cfg, cpuinfo('avx2 avx512_vnni')) is None
    assert cfg.to_dict() == _cfg().to_dict()


def test_config_says_otherwise(cpuinfo):
    flags = cpuinfo('avx512_bf16')
    off = _cfg(cpu_fast_path=False)
    assert apply_cpu_fast_path(off, flags) is None
    assert off.optim_wrapper.get('type') is None

    no_nhwc = _cfg()
    no_nhwc.custom_hooks[0]['enable'] = False
    assert 'bfloat16 autocast' in apply_cpu_fast_path(no_nhwc, flags)
    assert no_nhwc.custom_hooks[0]['enable'] is False
    # --amp (or an AmpOptimWrapper in the config) is left as it is
    amp = _cfg(custom_hooks=[])
    amp.optim_wrapper.type = 'AmpOptimWrapper'
    amp.optim_wrapper.dtype = 'float16'
    apply_cpu_fast_path(amp, flags)
    assert amp.optim_wrapper.dtype == 'float16'
    assert amp.custom_hooks == [dict(type='ChannelsLastHook', enable=True)]
    # test-only configs are not touched
    test_only = Config(dict(optim_wrapper=_cfg().optim_wrapper))
    assert apply_cpu_fast_path(test_only, flags) is None


def test_runner_trains_on_the_fast_path(tmp_path, fruit_tree):
    """A real FruitRunner: forced on, it trains in bf16 + NHWC and logs the
    choice once; with cpu_fast_path=False it is the fp32 NCHW run."""
    config = tiny_config(tmp_path / 'tiny.py', fruit_tree,
                         'cpu_fast_path = True\n'
                         'train_cfg = dict(max_epochs=1, val_interval=9)\n')
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(tmp_path / 'work')
    runner = FruitRunner.from_cfg(cfg)
    files = [h.baseFilename for h in runner.logger.handlers
             if isinstance(h, logging.FileHandler)]
    runner.train()
    wrapper = runner.optim_wrapper
    assert isinstance(wrapper, AmpOptimWrapper)
    assert wrapper.cast_dtype == torch.bfloat16
    weight = runner.model.backbone.conv1.conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    with open(files[0], encoding='utf-8') as file:
        log = file.read()
    assert log.count('CPU fast path: training uses bfloat16 autocast + '
                     'channels-last') == 1
    if glibc_version() and process_choice(os.environ) is None:
        assert log.count('keeps freed memory in the heap') == 1

    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict(dict(cpu_fast_path=False))
    cfg.work_dir = str(tmp_path / 'fp32')
    fp32 = FruitRunner.from_cfg(cfg)
    assert 'type' not in fp32.cfg.optim_wrapper  # mmengine's OptimWrapper
    assert [h.get('enable') for h in fp32.cfg.custom_hooks
            if h['type'] == 'ChannelsLastHook'] == [None]
