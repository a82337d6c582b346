"""Give the training set's class counts to the losses that need them."""
from typing import List

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


def dataset_class_counts(dataset) -> np.ndarray:
    """Images per class in a dataset (dataset wrappers included).

    Args:
        dataset: An mmpretrain dataset, or an mmengine dataset wrapper
            (``RepeatDataset``, ``ClassBalancedDataset``, ...) around one.

    Returns:
        (C,) counts, C = ``len(dataset.metainfo['classes'])``.
    """
    if hasattr(dataset, 'get_gt_labels'):
        labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    else:
        labels = np.array([
            int(dataset.get_data_info(index)['gt_label'])
            for index in range(len(dataset))
        ], dtype=np.int64)
    num_classes = len(dataset.metainfo.get('classes') or ())
    return np.bincount(labels, minlength=num_classes)


@HOOKS.register_module()
class ClassCountsHook(Hook):
    """Count the training images per class and pass the counts to the losses.

    Before training starts, every module of the model with a
    ``set_class_counts(counts)`` method (e.g.
    :class:`fruit_ext.models.ClassBalancedLoss`) gets the training set's
    counts, so no config holds hand-typed counts. Recomputed on resume.
    """

    priority = 'HIGH'

    def before_train(self, runner) -> None:
        """Count and hand over.

        Args:
            runner: The mmengine Runner.

        Raises:
            RuntimeError: No module of the model takes class counts.
        """
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        targets: List = [
            module for module in model.modules()
            if callable(getattr(module, 'set_class_counts', None))
        ]
        if not targets:
            raise RuntimeError(
                'ClassCountsHook: no module of the model takes class counts; '
                "use e.g. loss=dict(type='ClassBalancedLoss', ...) in the "
                'head, or remove the hook.')
        counts = dataset_class_counts(runner.train_dataloader.dataset)
        for module in targets:
            module.set_class_counts(counts.tolist())
            weights = getattr(module, 'class_weight', None)
            detail = '' if weights is None else ', class weights ' + ' '.join(
                f'{float(w):.3g}' for w in weights)
            runner.logger.info(
                f'ClassCountsHook: {type(module).__name__} got class counts '
                f'{counts.tolist()}{detail}')
