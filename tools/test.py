"""Test a checkpoint: mmpretrain's own ``tools/test.py`` with fruit_ext loaded.

Same flags as mmpretrain (and ``mim test``): ``CONFIG CHECKPOINT``,
``--work-dir``, ``--out``, ``--amp``, ``--tta``, ``--show-dir``,
``--cfg-options``, ``--launcher``.

    python tools/test.py configs/mobilenet-v2_fruit.py work_dirs/x/epoch_20.pth
    bash tools/dist_test.sh configs/mobilenet-v2_fruit.py CKPT 2
"""
import runpy

from train import mmpretrain_tool

if __name__ == '__main__':
    runpy.run_path(str(mmpretrain_tool('test.py')), run_name='__main__')
