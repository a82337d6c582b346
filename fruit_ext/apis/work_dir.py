"""A training work dir as the input of every tool.

A work dir written by ``mim train`` holds the config mmengine dumped
(``<work_dir>/<config stem>.py``, fully resolved, no ``_base_``) and the
checkpoints. The checkpoint used is, in this order: ``best.pth``, the newest
``best_*.pth``, ``last.pth``, the file named in ``last_checkpoint``. A
checkpoint alone (``.pth`` or ``.safetensors``) is enough too: it stores the
config it was trained with.
"""
import argparse
import glob
import os.path as osp
from typing import List, Optional, Tuple, Union

from mmengine.config import Config

#: Checkpoint names tried first, in order.
STABLE_NAMES = ('best.pth', 'best.safetensors')
#: Files taken as checkpoints (a checkpoint alone also gives its config).
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.safetensors')


class WorkDirError(FileNotFoundError):
    """A work dir lacks the config or the checkpoint a tool needs."""


def _newest(paths: List[str]) -> Optional[str]:
    paths = [p for p in paths if osp.isfile(p)]
    return max(paths, key=osp.getmtime) if paths else None


def dumped_config(work_dir: str) -> str:
    """The config mmengine dumped into ``work_dir``.

    Args:
        work_dir: A training work dir.

    Returns:
        Path of ``<work_dir>/<stem>.py`` (the newest when there are several).

    Raises:
        WorkDirError: No ``.py`` file at the top of the work dir.
    """
    found = _newest(glob.glob(osp.join(work_dir, '*.py')))
    if found is None:
        raise WorkDirError(
            f'Work dir {work_dir} has no dumped config (<config stem>.py at '
            'its top level, written when training starts). Pass the config '
            'file explicitly: CONFIG CHECKPOINT.')
    return found


def _last_checkpoint(work_dir: str) -> Optional[str]:
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker, encoding='utf-8') as file:
        named = file.read().strip()
    for candidate in (named, osp.join(work_dir, osp.basename(named))):
        if named and osp.isfile(candidate):
            return candidate
    return None


def best_checkpoint(work_dir: str) -> str:
    """The checkpoint a tool should use from ``work_dir``.

    Args:
        work_dir: A training work dir.

    Returns:
        ``best.pth``; else the newest ``best_*.pth``; else ``last.pth``;
        else the file named in ``last_checkpoint``.

    Raises:
        WorkDirError: None of them exists.
    """
    for name in STABLE_NAMES:
        if osp.isfile(osp.join(work_dir, name)):
            return osp.join(work_dir, name)
    found = _newest(glob.glob(osp.join(work_dir, 'best_*.pth'))) or \
        (osp.join(work_dir, 'last.pth')
         if osp.isfile(osp.join(work_dir, 'last.pth')) else None) or \
        _last_checkpoint(work_dir)
    if found is None:
        raise WorkDirError(
            f'Work dir {work_dir} has no checkpoint: looked for best.pth, '
            'best_*.pth, last.pth and the file named in last_checkpoint. '
            'Train first (mim train ...), or pass the checkpoint file.')
    return found


def _in_work_dir(work_dir: str, checkpoint: str) -> str:
    """``checkpoint`` as given, or relative to the work dir if only there."""
    if osp.exists(checkpoint) or osp.isabs(checkpoint):
        return checkpoint
    inside = osp.join(work_dir, checkpoint)
    return inside if osp.exists(inside) else checkpoint


def config_of_checkpoint(path: str) -> Config:
    """The training config stored in a checkpoint (``meta['cfg']``).

    Args:
        path: A ``.pth`` written by training or publishing, or a
            ``.safetensors`` from tools/deploy/publish_model.py.

    Returns:
        The config it was trained with.

    Raises:
        WorkDirError: The file stores no (readable) config.
    """
    from ..engine.checkpoint_fit import _meta_config
    from .checked_loading import read_checkpoint
    cfg = _meta_config(read_checkpoint(path).get('meta') or {})
    if cfg is None:
        raise WorkDirError(
            f'Checkpoint {path} stores no training config (meta.cfg), so it '
            'cannot be used alone: pass CONFIG CHECKPOINT, or its work dir.')
    return cfg


def resolve_model_files(config_or_work_dir: str,
                        checkpoint: Optional[str] = None
                        ) -> Tuple[Union[str, Config], Optional[str]]:
    """Config and checkpoint from ``CONFIG [CHECKPOINT]`` or ``WORK_DIR``.

    Args:
        config_or_work_dir: A config file, a model-index name, a work dir,
            or a checkpoint alone (``.pth``/``.safetensors`` that stores its
            training config).
        checkpoint: Checkpoint file; for a work dir, optional (a name inside
            the work dir such as ``epoch_3.pth`` also works).

    Returns:
        (config path, name or :class:`Config`; checkpoint path or None).

    Raises:
        WorkDirError: A work dir lacks its dumped config or any checkpoint,
            or a checkpoint alone stores no config.
    """
    if osp.isfile(config_or_work_dir) and checkpoint is None and \
            config_or_work_dir.lower().endswith(CHECKPOINT_SUFFIXES):
        return config_of_checkpoint(config_or_work_dir), config_or_work_dir
    if not osp.isdir(config_or_work_dir):
        return config_or_work_dir, checkpoint
    work_dir = config_or_work_dir
    config = dumped_config(work_dir)
    if checkpoint:
        return config, _in_work_dir(work_dir, checkpoint)
    return config, best_checkpoint(work_dir)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``CONFIG|WORK_DIR [CHECKPOINT]`` positionals every tool takes.

    Args:
        parser: The tool's argument parser.
    """
    parser.add_argument('config', metavar='CONFIG|WORK_DIR',
                        help='config file, model-index name, or training '
                        'work dir (its dumped config and best.pth)')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file (.pth or .safetensors); '
                        'optional after a work dir')
