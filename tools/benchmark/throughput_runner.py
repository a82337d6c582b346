"""The Runner side of the training-throughput benchmark (train_throughput.py).

The config runs exactly as ``tools/train.py --no-validate [--amp]`` builds
it (mmpretrain's own ``merge_args``) and with the Runner ``tools/train.py``
picks (``runner_type``: ``FruitRunner``); the benchmark only swaps the data,
times iterations with :class:`ThroughputWindowHook` and sets the speed
options the case names (``cpu_fast_path=False`` otherwise, so a case means
the same on every CPU).
"""
import argparse
import runpy
import sys
from pathlib import Path
from typing import Dict

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import DATASETS, HOOKS

HERE = Path(__file__).resolve().parent
#: timers the hooks of this process report to, by key
WINDOWS: Dict[str, object] = {}


@HOOKS.register_module()
class ThroughputWindowHook(Hook):
    """Tell a benchmark timer where each training iteration ends.

    Args:
        key: Key of the timer in :data:`WINDOWS`.
    """

    priority = 'LOWEST'  # after the logger and every other hook

    def __init__(self, key: str = 'runner') -> None:
        self.window = WINDOWS[key]

    def before_train(self, runner) -> None:
        """Start the timer (or wait for this loop's turn)."""
        self.window.begin()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Count one iteration."""
        self.window.tick()


@DATASETS.register_module()
class InMemoryImages(torch.utils.data.Dataset):
    """Decoded BGR images run through the config's last transform.

    Args:
        path: ``.pt`` file of ``throughput_data.decode_to_memory``.
        pipeline: Transforms (``PackInputs``).
        **folder_keys: The replaced dataset's ``data_root``, ``classes``
            and ``holdout`` (kept in the config for ``resolve_config``).
    """

    def __init__(self, path: str, pipeline: list, **folder_keys) -> None:
        # folder_keys: the config's data_root/classes/holdout, unused here
        from mmcv.transforms import Compose
        stored = torch.load(path, weights_only=True)
        self.images = [im.numpy()[..., ::-1].copy()
                       for im in stored['images']]
        self.labels = stored['labels'].tolist()
        self.pipeline = Compose(pipeline)
        self.metainfo = {}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return self.pipeline(dict(img=self.images[i],
                                  gt_label=self.labels[i]))


def runner_config(args: argparse.Namespace, settings, work_dir: str):
    """The config of one case, as ``tools/train.py`` would run it.

    Args:
        args: Parsed ``--run`` arguments.
        settings: ``plain_pytorch.Settings`` of the config.
        work_dir: Work dir of the run.

    Returns:
        The config.
    """
    sys.path.insert(0, str(HERE.parent))
    from train import mmpretrain_tool

    train_tool = runpy.run_path(str(mmpretrain_tool('train.py')))
    cfg = train_tool['merge_args'](settings.cfg, argparse.Namespace(
        config=args.config, work_dir=work_dir, resume=None,
        amp='amp' in args.options, no_validate=True, auto_scale_lr=False,
        no_pin_memory=False, no_persistent_workers=False, cfg_options=None,
        launcher='none'))
    train = cfg.train_dataloader
    train.batch_size = args.batch_size
    if args.data == 'memory':
        kept = {key: train.dataset[key] for key in
                ('data_root', 'classes', 'holdout') if key in train.dataset}
        train.dataset = dict(type='InMemoryImages', path=args.memory,
                             pipeline=[train.dataset.pipeline[-1]], **kept)
        train.num_workers = 0
    else:
        train.dataset.data_root = args.files
        train.dataset.indices = args.batch_size * (args.warmup + args.iters)
        for transform in train.dataset.pipeline:
            if transform['type'].endswith('RandomResizedCrop'):
                transform['scale'] = args.img_size
        train.num_workers = args.workers
    cfg.load_from = None
    cfg.train_cfg.max_epochs = 1
    cfg.cpu_fast_path = False  # the case's options say what is on
    # the config's ChannelsLastHook (on by default on GPU) follows the case
    cfg.custom_hooks = [
        hook for hook in cfg.get('custom_hooks', [])
        if hook['type'] != 'ChannelsLastHook'
    ] + [
        dict(type='ChannelsLastHook',
             enable='channels_last' in args.options),
        dict(type='ThroughputWindowHook')
    ]
    if 'compile' in args.options:
        cfg.compile = True
    cfg.merge_from_dict(getattr(args, 'runner_cfg', None) or {})
    return cfg


def run_runner(args: argparse.Namespace, settings, window,
               work_dir: str) -> None:
    """Train one case with the Runner, timed by ``window``.

    Args:
        args: Parsed ``--run`` arguments.
        settings: ``plain_pytorch.Settings`` of the config.
        window: ``Window`` or ``Turn`` timer.
        work_dir: Work dir of the run.
    """
    from mmengine.registry import RUNNERS, init_default_scope
    from mmengine.runner import Runner

    from throughput_loops import iterate

    WINDOWS['runner'] = window
    cfg = runner_config(args, settings, work_dir)
    if 'data_only' in args.options:
        init_default_scope('mmpretrain')
        iterate(Runner.build_dataloader(cfg.train_dataloader, seed=0),
                window)
        return
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    runner.train()
