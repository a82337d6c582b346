"""``mmpretrain2torchserve`` on torch-model-archiver >= 0.8.

Upstream bug (mmpretrain 1.2 ``tools/torchserve/mmpretrain2torchserve.py``,
run by ``mim run mmpretrain mmpretrain2torchserve``): it hands
torch-model-archiver an ``argparse.Namespace`` built by hand with the
fields of archiver 0.7. Archiver 0.8 added ``config_file`` (a YAML model
config), so the tool stops with ``AttributeError: 'Namespace' object has no
attribute 'config_file'`` before it writes the ``.mar``.

The fix fills the fields that such a Namespace lacks with
``ModelArchiverConfig``'s defaults (``config_file=None``: no YAML config,
as before 0.8) when ``ModelExportUtils.generate_manifest_json`` receives
it; the same Namespace then reaches ``package_model``. It applies only when
the installed archiver has fields the Namespace lacks, and the archiver is
patched when it is imported, not imported by ``fruit_ext``.
"""
import argparse
import dataclasses
from types import ModuleType
from typing import Any, Dict

from ._log import log_once
from ._post_import import when_imported

MODULE = 'model_archiver.model_packaging_utils'
_state: dict = {'utils': None, 'original': None}


def missing_fields(config_class: type,
                   args: argparse.Namespace) -> Dict[str, Any]:
    """Fields of ``ModelArchiverConfig`` with a default that ``args`` lacks.

    Args:
        config_class: ``model_archiver.model_archiver_config.
            ModelArchiverConfig``.
        args: The Namespace a caller built by hand.

    Returns:
        Field name -> its default.
    """
    return {field.name: field.default
            for field in dataclasses.fields(config_class)
            if not hasattr(args, field.name)
            and field.default is not dataclasses.MISSING}


def _patch(module: ModuleType) -> None:
    utils = module.ModelExportUtils
    config_class = getattr(module, 'ModelArchiverConfig', None)
    if _state['original'] is not None or config_class is None:
        return  # archiver < 0.8 takes the old Namespace as it is
    original = utils.generate_manifest_json

    def generate_manifest_json(config: Any) -> str:
        if isinstance(config, argparse.Namespace):
            for name, default in missing_fields(config_class, config).items():
                setattr(config, name, default)
                log_once(f'archiver-{name}', f'torch-model-archiver: '
                         f'{name}={default!r} added to the caller\'s '
                         'arguments (archiver >= 0.8 needs it)')
        return original(config)

    utils.generate_manifest_json = staticmethod(generate_manifest_json)
    _state.update(utils=utils, original=original)


def apply() -> None:
    """Complete old-style Namespaces, now or when the archiver is imported."""
    when_imported(MODULE, _patch)


def revert() -> None:
    """Restore the archiver's ``generate_manifest_json`` (used by tests)."""
    if _state['original'] is not None:
        _state['utils'].generate_manifest_json = staticmethod(
            _state['original'])
        _state.update(utils=None, original=None)
