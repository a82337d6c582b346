"""Data loader options that fit the host.

Upstream behaviour (mmpretrain 1.2 ``tools/train.py``, which ``mim train``
runs): every data loader gets ``pin_memory=True`` and
``persistent_workers=True``. That is right on a GPU host, but with
``num_workers=0`` torch refuses it (``ValueError: persistent_workers option
needs num_workers > 0``), and without an accelerator pinning does nothing but
warn (``'pin_memory' argument is set as true but no accelerator is found``).

The fix adjusts only those cases when mmengine builds a data loader from a
config: ``persistent_workers`` is dropped when there are no workers and
``pin_memory`` when there is no accelerator. Configs are otherwise untouched.
"""
import copy
from typing import Any, Union

import torch
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from ._log import log_once

_original_build_dataloader = Runner.build_dataloader


def fit_to_host(dataloader_cfg: dict) -> dict:
    """Copy of a data loader config with host-appropriate worker options.

    Args:
        dataloader_cfg: The ``*_dataloader`` config.

    Returns:
        The config with ``persistent_workers`` off when ``num_workers`` is 0
        and ``pin_memory`` off when no accelerator is available.
    """
    cfg = copy.copy(dataloader_cfg)
    if cfg.get('persistent_workers') and not cfg.get('num_workers', 0):
        cfg['persistent_workers'] = False
        log_once('dl-persistent', 'num_workers=0: persistent_workers is '
                 'turned off (it needs worker processes)')
    if cfg.get('pin_memory') and not torch.accelerator.is_available():
        cfg['pin_memory'] = False
        log_once('dl-pin', 'no accelerator: pin_memory is turned off')
    return cfg


def build_dataloader(dataloader: Union[DataLoader, dict], *args: Any,
                     **kwargs: Any) -> DataLoader:
    """``Runner.build_dataloader`` on a host-fitted config (same arguments).

    Args:
        dataloader: A data loader or its config.
        *args: Passed on to mmengine.
        **kwargs: Passed on to mmengine.

    Returns:
        The data loader.
    """
    if isinstance(dataloader, dict):
        dataloader = fit_to_host(dataloader)
    return _original_build_dataloader(dataloader, *args, **kwargs)


def apply() -> None:
    """Install the host-fitting data loader builder (idempotent)."""
    Runner.build_dataloader = staticmethod(build_dataloader)


def revert() -> None:
    """Restore mmengine's original behaviour (used by tests)."""
    Runner.build_dataloader = staticmethod(_original_build_dataloader)
