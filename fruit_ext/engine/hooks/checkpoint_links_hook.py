"""Stable names for the best and the latest checkpoint of a work dir."""
import os
import os.path as osp
import shutil
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmpretrain.registry import HOOKS


def replace_link(link: str, target: str) -> str:
    """Point ``link`` at ``target`` atomically: a reader never sees it absent.

    A relative symbolic link is created under a temporary name in the same
    folder and renamed over ``link`` (``os.replace``). Where the file system
    refuses symbolic links the target is copied to the temporary name and
    renamed instead.

    Args:
        link: Path of the stable name, e.g. ``work_dir/best.pth``.
        target: Existing checkpoint file it must stand for.

    Returns:
        ``'symlink'`` or ``'copy'``: how the name was made.
    """
    folder = osp.dirname(osp.abspath(link))
    tmp = osp.join(folder, f'.{osp.basename(link)}.{os.getpid()}.tmp')
    if osp.lexists(tmp):
        os.remove(tmp)
    try:
        os.symlink(osp.relpath(osp.abspath(target), folder), tmp)
        kind = 'symlink'
    except OSError:
        shutil.copyfile(target, tmp)
        kind = 'copy'
    try:
        os.replace(tmp, link)
    except OSError:
        if osp.lexists(tmp):
            os.remove(tmp)
        raise
    return kind


def link_target(link: str) -> Optional[str]:
    """The absolute path a symbolic link points at, or None if it is none.

    Args:
        link: Path to inspect.

    Returns:
        The resolved target path (which may not exist), or None when
        ``link`` is missing or a regular file.
    """
    if not osp.islink(link):
        return None
    return osp.normpath(
        osp.join(osp.dirname(osp.abspath(link)), os.readlink(link)))


@HOOKS.register_module()
class CheckpointLinksHook(Hook):
    """Keep ``best.pth`` and ``last.pth`` in the work dir up to date.

    mmengine's :class:`~mmengine.hooks.CheckpointHook` names checkpoints
    after their epoch (``epoch_7.pth``, ``best_accuracy_top1_epoch_5.pth``)
    and deletes old ones (``max_keep_ckpts``, a better best). This hook runs
    after it in every stage (priority ``LOWEST`` against its ``VERY_LOW``),
    reads the files it just wrote from its state, and points two stable
    names at them, so commands can say ``work_dir/best.pth``:

    * ``last.pth``: the newest regular checkpoint (the one in
      ``last_checkpoint``), updated after each saving epoch or iteration;
    * ``best.pth``: the best checkpoint of the first ``save_best`` metric,
      updated after each validation that found a better one.

    Each name is a relative symbolic link replaced atomically (a copy where
    symbolic links fail). Only the main process writes. Before training
    (also on resume, after ``max_keep_ckpts`` pruned old files) a name whose
    file is gone is re-pointed or removed, so no name dangles. Checkpoints
    kept outside the local file system (another ``backend_args``) are left
    without names, with a warning.

    Args:
        best_name: File name of the best-checkpoint link in the work dir.
        last_name: File name of the latest-checkpoint link in the work dir.
    """

    priority = 'LOWEST'

    def __init__(self, best_name: str = 'best.pth',
                 last_name: str = 'last.pth') -> None:
        if not best_name or not last_name or best_name == last_name:
            raise ValueError('CheckpointLinksHook needs two different names, '
                             f'got {best_name!r} and {last_name!r}')
        self.best_name = best_name
        self.last_name = last_name
        self._active = False
        self._by_epoch = True
        self._made: Dict[str, str] = {}

    def before_train(self, runner) -> None:
        """Find the CheckpointHook and repair names left by an earlier run.

        Args:
            runner: The mmengine Runner.
        """
        self._active = False
        hook = self._checkpoint_hook(runner)
        if hook is None:
            runner.logger.warning(
                'CheckpointLinksHook: no CheckpointHook in this run, so no '
                f'{self.best_name} / {self.last_name} are written.')
            return
        if not isinstance(getattr(hook, 'file_backend', None), LocalBackend):
            runner.logger.warning(
                'CheckpointLinksHook: checkpoints are not kept on the local '
                f'file system ({hook.out_dir}); no {self.best_name} / '
                f'{self.last_name} are written.')
            return
        if getattr(hook, 'save_best', None) is None:
            runner.logger.info(
                'CheckpointLinksHook: the CheckpointHook has no save_best, '
                f'so only {self.last_name} is written.')
        self._active = True
        self._by_epoch = hook.by_epoch
        self._refresh(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Follow iteration-based checkpoints.

        Args:
            runner: The mmengine Runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: Unused.
            outputs: Unused.
        """
        if not self._by_epoch:
            self._refresh(runner)

    def after_train_epoch(self, runner) -> None:
        """Follow the checkpoint saved at the end of the epoch.

        Args:
            runner: The mmengine Runner.
        """
        self._refresh(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        """Follow a new best checkpoint (and the last one, re-saved with it).

        Args:
            runner: The mmengine Runner.
            metrics: Unused.
        """
        self._refresh(runner)

    def after_train(self, runner) -> None:
        """Check both names once more when training ends.

        Args:
            runner: The mmengine Runner.
        """
        self._refresh(runner)

    @staticmethod
    def _checkpoint_hook(runner) -> Optional[CheckpointHook]:
        """The run's CheckpointHook, or None."""
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook):
                return hook
        return None

    def _targets(self, runner) -> Dict[str, Optional[str]]:
        """The checkpoint each name must stand for (None: no such file)."""
        hook = self._checkpoint_hook(runner)
        last = getattr(hook, 'last_ckpt', None)
        if last is None:
            last_file = osp.join(runner.work_dir, 'last_checkpoint')
            if osp.isfile(last_file):
                with open(last_file) as file:
                    last = file.read().strip() or None
        best = getattr(hook, 'best_ckpt_path', None)
        if best is None and getattr(hook, 'key_indicators', None):
            best = getattr(hook, 'best_ckpt_path_dict', {}).get(
                hook.key_indicators[0])
        return {self.last_name: last, self.best_name: best}

    def _refresh(self, runner) -> None:
        """Point each name at its checkpoint; remove names of gone files."""
        if not self._active or not is_main_process():
            return
        for name, target in self._targets(runner).items():
            link = osp.join(runner.work_dir, name)
            if target is not None and osp.isfile(target):
                target = osp.abspath(target)
                if self._made.get(name) == target and (
                        link_target(link) == target
                        or not osp.islink(link) and osp.isfile(link)):
                    continue
                kind = replace_link(link, target)
                if name == self.best_name or name not in self._made:
                    runner.logger.info(
                        f'{name} -> {osp.basename(target)} ({kind})')
                self._made[name] = target
            elif osp.islink(link) and not osp.exists(link):
                gone = os.readlink(link)
                os.remove(link)
                self._made.pop(name, None)
                runner.logger.warning(
                    f'CheckpointLinksHook: removed {link}: its checkpoint '
                    f'{gone} is gone.')
