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

from fruit_ext.utils.cli import add_options

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
    add_options(parser, 'config', 'checkpoint')


def add_model_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``MODEL [CHECKPOINT] INPUT...`` positionals of the tools that
    predict (split by :func:`split_model_inputs`).

    Args:
        parser: The tool's argument parser.
    """
    parser.add_argument('model', metavar='CONFIG|WORK_DIR|CHECKPOINT',
                        help='config file, model-index name, training work '
                        'dir (its dumped config and best.pth), or a '
                        'checkpoint alone (the config it stores)')
    parser.add_argument('rest', nargs='+', metavar='[CHECKPOINT] INPUT',
                        help='checkpoint (.pth or .safetensors; optional '
                        'after a work dir), then images, folders, glob '
                        'patterns or .txt lists')


def split_model_inputs(parser: argparse.ArgumentParser,
                       args: argparse.Namespace) -> None:
    """Set ``args.checkpoint`` and ``args.inputs`` from the positionals.

    ``CONFIG CHECKPOINT INPUT...`` keeps its meaning; after a work dir the
    checkpoint is optional (taken when the next argument is a .pth or
    .safetensors path); a checkpoint alone (it stores its training config)
    is followed by inputs only.

    Args:
        parser: The parser (its ``error`` reports a bad combination).
        args: Parsed arguments, with ``model`` and ``rest``.
    """
    rest = list(args.rest)
    if args.model.lower().endswith('.onnx'):
        parser.error(f'{args.model} is an ONNX model: run it with the ONNX '
                     f'Predictor (python fruit_ext/apis/predictor.py '
                     f'{args.model} INPUT...); this tool takes a config, a '
                     'work dir or a checkpoint')
    alone = osp.isfile(args.model) and \
        args.model.lower().endswith(CHECKPOINT_SUFFIXES)
    if alone:  # a checkpoint that stores its own training config
        has_checkpoint = False
    elif osp.isdir(args.model):
        has_checkpoint = rest[0].lower().endswith(CHECKPOINT_SUFFIXES)
    else:
        has_checkpoint = True
        if len(rest) < 2:
            parser.error(f'{args.model} is not a work dir, so a CHECKPOINT '
                         'and at least one INPUT must follow it')
    args.checkpoint = rest.pop(0) if has_checkpoint else None
    if not rest:
        parser.error('no INPUT given: pass images, folders, globs or lists')
    args.inputs = rest
