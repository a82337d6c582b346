"""Engine components (hooks, linear probes)."""
from .hooks import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .linear_probe import (DEFAULT_WEIGHT_DECAYS, ProbeResult, fit_head,
                           fit_probe, head_macro_recall, head_top1)
from .probe_config import build_model, probe_config, probe_model
from .probe_features import cached_features, extract_features
from .runner import FruitRunner

__all__ = _hooks_all + [
    'DEFAULT_WEIGHT_DECAYS', 'ProbeResult', 'fit_head', 'fit_probe',
    'head_top1', 'head_macro_recall', 'probe_model', 'probe_config',
    'build_model', 'cached_features', 'extract_features', 'FruitRunner'
]
