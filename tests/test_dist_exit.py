"""A DDP process group is destroyed at exit, before interpreter teardown.

Without that, a gloo rank that leaves while its peer is still at work
aborted now and then (CI: "terminate called without an active exception",
SIGABRT in rank 1 at the end of an LP-FT run under tools/dist_train.sh).
"""
import os
import subprocess
import sys

from conftest import REPO
from test_launch_dist import free_port

# Like the end of a DDP run: collectives, then rank 1 leaves while rank 0 is
# still busy (saving the last checkpoint). Set up through mmengine's
# init_dist, as the Runner does, with fruit_ext's fixes loaded. The report
# is registered before init_dist, so it runs after any handler init_dist
# registers (atexit runs last-in first-out).
WORKER = '''
import atexit
import time

import mmengine.dist
import torch
import torch.distributed as dist

import fruit_ext  # noqa: F401

atexit.register(lambda: print('group alive at exit:', dist.is_initialized()))
mmengine.dist.init_dist('pytorch', backend='nccl')
for _ in range(20):
    dist.all_reduce(torch.ones(1000))
dist.broadcast_object_list([None], src=0)
if dist.get_rank() == 0:
    time.sleep(0.3)
'''


def run_pair(script: str) -> list:
    port = str(free_port())
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank),
                   WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT=port,
                   OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
        procs.append(subprocess.Popen(
            [sys.executable, '-c', script], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    return [(proc.wait(timeout=120), proc.stdout.read()) for proc in procs]


def test_process_group_is_destroyed_before_interpreter_exit():
    for rank, (code, output) in enumerate(run_pair(WORKER)):
        assert code == 0 and 'terminate called' not in output, (
            f'rank {rank} exited {code}:\n{output}')
        assert 'group alive at exit: False' in output, output
