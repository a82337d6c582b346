"""Count, per epoch, the broken images a dataset skipped."""
from typing import List, Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from fruit_ext.datasets.skip_broken import SKIPPED_KEY


def skipped_paths(data_batch: Optional[dict]) -> List[str]:
    """The broken files the samples of a batch stand in for.

    Args:
        data_batch: A collated batch (``data_samples`` a list); anything
            else (e.g. the integers mmpretrain's vis_scheduler iterates
            over) has no skips.

    Returns:
        Paths, one per skip.
    """
    if not isinstance(data_batch, dict):
        return []
    samples = data_batch.get('data_samples') or []
    return [path for sample in samples
            for path in sample.metainfo.get(SKIPPED_KEY, [])]


@HOOKS.register_module()
class BrokenImageLogHook(Hook):
    """Log how many broken images were skipped in each epoch, and which.

    Works with ``Fruit30(on_broken='skip')``: each skip travels with the
    sample served in its place, so the count is right with any number of
    DataLoader workers. Nothing is logged for an epoch without skips.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._skipped: List[str] = []

    def _before_epoch(self, runner, mode: str = 'train') -> None:
        """Start a new count (mmengine calls this before every train, val
        and test epoch).

        Args:
            runner: The mmengine Runner.
            mode: 'train', 'val' or 'test'.
        """
        self._skipped = []

    def _after_iter(self, runner, batch_idx: int,
                    data_batch: Optional[dict] = None,
                    outputs=None, mode: str = 'train') -> None:
        """Collect the batch's skips (mmengine calls this after every
        train, val and test iteration; test runs are not reported).

        Args:
            runner: The mmengine Runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: The batch.
            outputs: The model's outputs.
            mode: 'train', 'val' or 'test'.
        """
        if mode != 'test':
            self._skipped += skipped_paths(data_batch)

    def _after_epoch(self, runner, mode: str = 'train') -> None:
        """Log the epoch's count (test runs are not reported).

        Args:
            runner: The mmengine Runner.
            mode: 'train', 'val' or 'test'.
        """
        epoch = runner.epoch + 1 if mode == 'train' else runner.epoch
        if mode != 'test':
            self._report(runner, f'Epoch({mode}) [{epoch}]')

    def _report(self, runner, where: str) -> None:
        if not self._skipped:
            return
        files = sorted(set(self._skipped))
        runner.logger.warning(
            f'{where}: skipped {len(self._skipped)} broken image(s) '
            f'({len(files)} file(s)), another sample served for each: '
            + ', '.join(files))
