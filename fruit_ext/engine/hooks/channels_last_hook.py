"""Train and evaluate in channels-last (NHWC) memory format."""
from typing import Any, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def _to_channels_last(module: nn.Module, inputs: Any, output: Any) -> Any:
    """Forward hook of the data preprocessor: NHWC image batches."""
    images = output.get('inputs') if isinstance(output, dict) else None
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        output['inputs'] = images.contiguous(
            memory_format=torch.channels_last)
    return output


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Put the model and every image batch in channels-last memory format.

    Convolutions run faster on NHWC tensors with cuDNN (tensor cores, above
    all with AMP) and with oneDNN on recent CPUs; results are the same up to
    float rounding. The weights are converted once, after they were
    initialised or loaded (so a seed gives the same model in either format),
    and a forward hook on the data preprocessor converts each batch after
    normalisation. For training, a model wrapped in DistributedDataParallel
    is wrapped again (and compiled again if ``compile`` is set), so DDP lays
    out its gradient buckets for the new strides instead of copying every
    gradient into mismatched ones.

    Args:
        enable: True or False to force; None (default) enables it only when
            the model is on a CUDA device. ``FruitRunner`` sets it to True
            for CPU training on CPUs with native bfloat16
            (:mod:`fruit_ext.engine.cpu_fast_path`, ``cpu_fast_path``).
    """

    priority = 'NORMAL'

    def __init__(self, enable: Optional[bool] = None) -> None:
        self.enable = enable
        self._converted = False

    def _convert(self, runner) -> bool:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        on_cuda = any(p.is_cuda for p in model.parameters())
        if self._converted or not (self.enable if self.enable is not None
                                   else on_cuda):
            return False
        model.to(memory_format=torch.channels_last)
        model.data_preprocessor.register_forward_hook(_to_channels_last)
        self._converted = True
        runner.logger.info('ChannelsLastHook: model and image batches use '
                           'the channels_last memory format.')
        return True

    def before_train(self, runner) -> None:
        """Convert before the first training iteration.

        Args:
            runner: The mmengine Runner.
        """
        if self._convert(runner) and isinstance(runner.model,
                                                DistributedDataParallel):
            runner.model = runner.wrap_model(
                runner.cfg.get('model_wrapper_cfg'), runner.model.module)
            runner._maybe_compile('train_step')

    def before_val(self, runner) -> None:
        """Convert for a validation-only run (no-op once converted).

        Args:
            runner: The mmengine Runner.
        """
        self._convert(runner)

    def before_test(self, runner) -> None:
        """Convert for a test run.

        Args:
            runner: The mmengine Runner.
        """
        self._convert(runner)
