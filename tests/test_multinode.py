"""Past one machine: dist_train.sh as two torchrun "nodes" on loopback, and
slurm_train.sh with a fake ``srun`` that records its arguments."""
import os
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import BIN, REPO, tiny_config
from test_launch_dist import free_port

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='the CPU (gloo) path is what is tested')

#: a stand-in for slurm's srun: records its arguments, then runs the command
#: (the first word after srun's options) once, as task 0 of 1
FAKE_SRUN = '''#!/usr/bin/env bash
printf '%s\\n' "$@" > "$SRUN_RECORD"
while [ $# -gt 0 ]; do
  case "$1" in
    -p|-N|-n|-c) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
export SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=node1
exec "$@"
'''
#: scontrol show hostname NODELIST: the first node's address
FAKE_SCONTROL = '#!/usr/bin/env bash\necho 127.0.0.1\n'


def _env(**extra) -> dict:
    return dict(os.environ, PATH=f'{BIN}{os.pathsep}{os.environ["PATH"]}',
                OMP_NUM_THREADS='1', PYTHONPATH=str(REPO), **extra)


def two_nodes(config: Path, work_dir: Path, *args: str) -> list:
    """Node 0 and node 1 (one process each) of one run; their outputs."""
    port = str(free_port())
    nodes = [subprocess.Popen(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '1',
         '--work-dir', str(work_dir), *args],
        env=_env(NNODES='2', NODE_RANK=str(rank), PORT=port,
                 MASTER_ADDR='127.0.0.1'),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=config.parent) for rank in (0, 1)]
    outputs = []
    for node in nodes:
        try:
            outputs.append(node.communicate(timeout=600)[0])
        finally:
            node.kill()
        assert node.returncode == 0, outputs[-1][-4000:]
    return outputs


def test_two_nodes_train_checkpoint_and_resume(tmp_path, fruit_tree):
    config = tiny_config(tmp_path / 'nodes.py', fruit_tree,
                         'train_cfg = dict(max_epochs=2)\n'
                         "custom_hooks = [dict(type='LRScalingLogHook')]\n")
    work_dir = tmp_path / 'work'
    first, _ = two_nodes(config, work_dir, '--cfg-options',
                         'train_cfg.max_epochs=1')
    assert 'Distributed training: True' in first
    # 2 nodes x 1 process x 16 images: the LR scales to a world of 2
    assert 'Learning rate in use: 0.005625' in first
    one = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    assert one['meta']['world_size'] == 2

    resumed, _ = two_nodes(config, work_dir, '--resume')
    assert 'resumed epoch: 1' in resumed
    assert 'Epoch(train) [1]' not in resumed
    assert 'Epoch(train) [2]' in resumed
    two = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert two['meta']['epoch'] == 2 and two['meta']['world_size'] == 2


def test_slurm_train_sh_with_a_fake_srun(tmp_path, fruit_tree):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    config = tiny_config(tmp_path / 'slurm.py', fruit_tree)
    record = tmp_path / 'srun_args.txt'
    env = _env(SRUN_RECORD=str(record), GPUS='1', GPUS_PER_NODE='0',
               CPUS_PER_TASK='1', MASTER_PORT=str(free_port()),
               SRUN_ARGS='--time=5')
    env['PATH'] = f'{bin_dir}{os.pathsep}{env["PATH"]}'
    result = subprocess.run(
        ['bash', str(REPO / 'tools' / 'slurm_train.sh'), 'cpu', 'fruit',
         str(config), str(tmp_path / 'work')], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
    args = record.read_text().splitlines()
    assert args[:2] == ['-p', 'cpu']
    assert '--job-name=fruit' in args and '--ntasks=1' in args
    assert '--ntasks-per-node=1' in args and '--cpus-per-task=1' in args
    assert not any(arg.startswith('--gres') for arg in args)
    assert '--time=5' in args
    command = args[args.index('python'):]
    assert command[1:4] == ['-u', str(REPO / 'tools' / 'train.py'),
                            str(config)]
    assert f'--work-dir={tmp_path / "work"}' in command
    assert '--launcher=slurm' in command
    assert "uses the 'gloo' backend" in result.stdout
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
