"""Train a model: mmpretrain's own ``tools/train.py`` with fruit_ext loaded.

Same flags as mmpretrain (and ``mim train``): ``--work-dir``,
``--resume [PATH]`` (no path: the latest checkpoint in the work dir),
``--amp``, ``--auto-scale-lr``, ``--no-validate``, ``--no-pin-memory``,
``--no-persistent-workers``, ``--cfg-options``, ``--launcher``.
Importing fruit_ext first applies its compat fixes (gloo DDP on CPU, bf16 AMP
on CPU, crash-safe checkpoints) even for configs without ``custom_imports``.

    python tools/train.py configs/mobilenet-v2_fruit.py
    bash tools/dist_train.sh configs/mobilenet-v2_fruit.py 2 --resume
"""
import runpy
from pathlib import Path

import mmpretrain

import fruit_ext  # noqa: F401  (compat fixes and registries)


def mmpretrain_tool(name: str) -> Path:
    """Path of one of the tools shipped inside the mmpretrain package.

    Args:
        name: File name under ``mmpretrain/.mim/tools``.

    Returns:
        The script's path.
    """
    path = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / name
    if not path.is_file():
        raise SystemExit(f'{path} is missing: reinstall mmpretrain from its '
                         'wheel (`pip install mmpretrain==1.2.0`).')
    return path


if __name__ == '__main__':
    runpy.run_path(str(mmpretrain_tool('train.py')), run_name='__main__')
