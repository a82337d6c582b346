"""Heap malloc for CPU training (fruit_ext/engine/heap_malloc.py)."""
import json
import os
import subprocess
import sys

import pytest
from mmengine.config import Config

from fruit_ext.engine.cpu_fast_path import apply_cpu_fast_path
from fruit_ext.engine.heap_malloc import (apply_heap_malloc, glibc_version,
                                          process_choice)

glibc = pytest.mark.skipif(glibc_version() is None,
                           reason='mallopt is glibc-only')

# In a fresh process (the pytest process may have enabled it already): minor
# page faults of each of 6 cycles of allocating, writing and freeing a 64 MiB
# tensor, with glibc's default, then after enable_heap_malloc().
FAULTS = r'''
import json, resource, torch
from fruit_ext.engine.heap_malloc import enable_heap_malloc

def faults():
    counts = []
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.empty(2**24).fill_(1.0)  # 64 MiB, freed at once
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                      - before)
    return sorted(counts)[3]  # upper median: a cycle that grows the heap
    # (the first, or one after a small block split the freed one) is not it

default = faults()
enable_heap_malloc()
print(json.dumps([default, faults()]))
'''


def test_decision_by_config_and_environment():
    off = Config(dict(cpu_heap_malloc=False))
    assert apply_heap_malloc(off, {}) is None
    for env in ({'MALLOC_MMAP_MAX_': '65536'},
                {'GLIBC_TUNABLES': 'glibc.malloc.trim_threshold=0'},
                {'LD_PRELOAD': '/usr/lib/libjemalloc.so.2'}):
        line = apply_heap_malloc(Config(), env)
        assert 'left as this process set it' in line
        assert process_choice(env) in line
    assert process_choice({'MALLOC_ARENA_MAX': '1',
                           'LD_PRELOAD': 'libfoo.so'}) is None


def test_cpu_fast_path_off_leaves_malloc_alone():
    cfg = Config(dict(cpu_fast_path=False, train_dataloader=dict()))
    assert apply_cpu_fast_path(cfg, '/nonexistent', environ={}) is None
    # bf16-only options do not stop it: it needs no CPU flag
    cfg = Config(dict(train_dataloader=dict(), custom_hooks=[
        dict(type='ChannelsLastHook', enable=False)]))
    line = apply_cpu_fast_path(cfg, '/nonexistent',
                               environ={'MALLOC_TOP_PAD_': '0'})
    assert line.startswith('CPU fast path: glibc malloc left as')
    # test-only configs are not touched
    assert apply_cpu_fast_path(Config(), '/nonexistent', environ={}) is None


@glibc
def test_enabled_line_says_the_cost_and_how_to_turn_it_off():
    line = apply_heap_malloc(Config(), {})
    assert f'glibc malloc {glibc_version()} keeps freed memory' in line
    assert 'keeps its peak memory' in line
    assert 'cpu_heap_malloc=False' in line


@glibc
def test_no_page_faults_per_large_allocation_once_enabled():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    for key in ('MALLOC_MMAP_MAX_', 'MALLOC_TRIM_THRESHOLD_',
                'MALLOC_TOP_PAD_', 'MALLOC_MMAP_THRESHOLD_', 'LD_PRELOAD'):
        env.pop(key, None)
    # glibc's default maps each 64 MiB block afresh: 16384 4-KiB pages per
    # cycle (fewer with transparent huge pages set to "always"). One of two
    # full-suite runs on a loaded 2-core host once saw the faults stay after
    # enabling (cause not found; alone it never did in 11 runs), so up to 3
    # fresh processes; a no-op enable fails all three.
    seen = []
    for _ in range(3):
        out = subprocess.run([sys.executable, '-c', FAULTS], env=env,
                             check=True, stdout=subprocess.PIPE,
                             text=True).stdout
        default, heap = json.loads(out.splitlines()[-1])
        seen.append((default, heap))
        if heap < 1000 < default or heap * 20 < default:
            return
    pytest.fail(f'page faults per 64 MiB cycle (glibc default, heap): {seen}')
