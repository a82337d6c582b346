"""Serve another sample when an image file cannot be decoded."""
from typing import List

from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from .transforms import BrokenImageError

ON_BROKEN = ('raise', 'skip')
#: DataSample metainfo key listing the broken files a sample stands in for.
SKIPPED_KEY = 'skipped_paths'


def get_skipping_broken(dataset: BaseDataset, index: int) -> dict:
    """``dataset[index]``, with broken images replaced by random others.

    Each skip is logged with the file and the reason; the skipped paths ride
    along in the served sample's metainfo (``skipped_paths``) so that
    :class:`fruit_ext.engine.BrokenImageLogHook` in the main process can
    count them per epoch, whatever the number of DataLoader workers.

    Args:
        dataset: A dataset whose pipeline raises :class:`BrokenImageError`.
        index: Sample index.

    Returns:
        The pipeline's output for the first decodable sample.

    Raises:
        RuntimeError: ``max_refetch`` broken files in a row.
    """
    if not dataset._fully_initialized:
        dataset.full_init()
    skipped: List[str] = []
    for _ in range(dataset.max_refetch + 1):
        try:
            data = dataset.prepare_data(index)
        except BrokenImageError as error:
            skipped.append(error.path)
            MMLogger.get_current_instance().warning(
                f'Skipped broken image {error.path} ({error.reason}); '
                'serving another sample instead.')
            index = dataset._rand_another()
            continue
        if data is None:  # a transform filtered the sample out
            index = dataset._rand_another()
            continue
        samples = data.get('data_samples') if isinstance(data, dict) else None
        if skipped and hasattr(samples, 'set_metainfo'):
            samples.set_metainfo({SKIPPED_KEY: skipped})
        return data
    raise RuntimeError(
        f'{type(dataset).__name__}: {dataset.max_refetch + 1} samples in a '
        'row could not be loaded (last broken file: '
        f'{skipped[-1] if skipped else "none"}); check the dataset with '
        'tools/dataset/check.py.')
