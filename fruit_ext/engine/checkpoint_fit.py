"""Refuse checkpoints that do not fit the model or the config in use.

mmengine loads checkpoints with ``strict=False`` and only *warns* about
missing or mis-shaped tensors, so a 10-class checkpoint, or ResNet weights,
given to the 30-class MobileNetV2 config runs with randomly initialised
layers and exits 0. The two checks here turn that into an error that names
the file, what it holds and what the config expects:

* :func:`check_checkpoint_fits` compares tensors (names and shapes) with the
  model. Backbone and neck mismatches are always errors; a head mismatch is
  allowed only when fine-tuning (``load_from``), where it is logged once as
  ``head re-initialised: 1000 → 30 classes``.
* :func:`check_checkpoint_matches_config` compares the config the checkpoint
  was trained with (mmengine stores its text in ``meta['cfg']``) with the
  config in use: another architecture or other class names are refused
  where results would be wrong, another input size is a warning.
"""
import logging
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.logging import MMLogger, print_log

#: Key prefixes of the classification head.
HEAD_PREFIX = 'head.'
#: Backbone fields that change what the weights compute.
ARCH_FIELDS = ('type', 'arch', 'depth', 'widen_factor', 'model_name')
_EXAMPLES = 3


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model or the config in use."""


# --------------------------------------------------------------------------
# What a checkpoint holds
# --------------------------------------------------------------------------
def _strip_prefix(state_dict: Dict[str, Any]) -> Dict[str, Any]:
    """Drop the ``module.`` prefix of DDP-wrapped weights (as mmengine)."""
    return {re.sub(r'^module\.', '', key): value
            for key, value in state_dict.items()}


def _unpack(checkpoint: Dict[str, Any],
            meta: Optional[dict]) -> Tuple[Dict[str, Any], dict]:
    """(state dict, meta) from a full checkpoint or a bare state dict."""
    if isinstance(checkpoint.get('state_dict'), dict):
        meta = meta if meta is not None else checkpoint.get('meta') or {}
        checkpoint = checkpoint['state_dict']
    return _strip_prefix(checkpoint), meta or {}


def head_classes(state_dict: Dict[str, Any]) -> Optional[int]:
    """Class count of the classifier, from the last 2-D head weight.

    Args:
        state_dict: Model or checkpoint tensors.

    Returns:
        Rows of the last linear weight under ``head.`` (or of ``fc.weight``
        for torchvision-style keys); None when there is none.
    """
    weights = [value for key, value in state_dict.items()
               if (key.startswith(HEAD_PREFIX) or key == 'fc.weight')
               and key.endswith('weight') and getattr(value, 'ndim', 0) == 2]
    return int(weights[-1].shape[0]) if weights else None


def _resnet_hint(keys: Sequence[str], prefix: str) -> str:
    blocks = [len({k.split('.')[1] for k in keys
                   if k.startswith(f'{prefix}layer{i}.')})
              for i in range(1, 5)]
    bottleneck = any('.conv3.' in k for k in keys)
    depth = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34,
             ((3, 4, 6, 3), True): 50, ((3, 4, 23, 3), True): 101,
             ((3, 8, 36, 3), True): 152}.get((tuple(blocks), bottleneck))
    name = f'ResNet-{depth}' if depth else 'ResNet'
    return f'{name} (layer1..layer4)'


def arch_from_keys(state_dict: Dict[str, Any]) -> str:
    """A guess at the architecture from tensor names and shapes.

    Args:
        state_dict: Model or checkpoint tensors.

    Returns:
        e.g. ``'MobileNetV2 (32-channel stem)'``,
        ``'ResNet-18 (layer1..layer4)'``,
        ``'EfficientNet'``, or ``'unknown architecture'``.
    """
    keys = list(state_dict)
    prefix = 'backbone.' if any(k.startswith('backbone.') for k in keys) \
        else ''
    body = [k[len(prefix):] for k in keys if k.startswith(prefix)]
    if any(k.startswith('timm_model.') for k in body):
        kind = 'EfficientNet' if any('conv_stem' in k for k in body) \
            else 'timm model'
        return f'{kind} (timm)'
    if any('depthwise_conv' in k for k in body) and \
            any(k.startswith('layers.') for k in body):
        return 'EfficientNet'
    if any(k.startswith('layer7.') for k in body) and \
            f'{prefix}conv1.conv.weight' in state_dict:
        stem = state_dict[f'{prefix}conv1.conv.weight'].shape[0]
        return f'MobileNetV2 ({stem}-channel stem)'
    if any(k.startswith('layer4.') for k in body) and \
            any(k.startswith('layer1.') for k in body):
        hint = _resnet_hint(body, '')
        return hint if prefix else f'{hint}, torchvision-style keys'
    return 'unknown architecture'


def _meta_config(meta: dict) -> Optional[Config]:
    """The training config stored in ``meta['cfg']``, or None."""
    text = meta.get('cfg') or meta.get('config')
    if isinstance(text, Config):
        return text
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return Config.fromstring(text, file_format='.py')
    except Exception:  # an unparsable or foreign config is not an error
        return None


def _backbone_of(cfg: Optional[Config]) -> Dict[str, Any]:
    backbone = (cfg or {}).get('model', {}).get('backbone') or {}
    fields = {key: backbone[key] for key in ARCH_FIELDS if key in backbone}
    if isinstance(fields.get('type'), str):  # 'mmpretrain.X' is X
        fields['type'] = fields['type'].split('.')[-1]
    return fields


def _describe_backbone(fields: Dict[str, Any]) -> str:
    extra = ', '.join(f'{k}={v}' for k, v in fields.items() if k != 'type')
    return f"{fields.get('type', '?')}" + (f' ({extra})' if extra else '')


def describe_checkpoint(state_dict: Dict[str, Any],
                        meta: Optional[dict] = None) -> str:
    """One line saying what a checkpoint holds.

    Args:
        state_dict: Its tensors (a full checkpoint dict is also accepted).
        meta: Its ``meta`` (class names, ``arch``, the training config).

    Returns:
        e.g. ``'10 classes, MobileNetV2 (widen_factor=1.0) [MobileNetV2
        (32-channel stem)], 64 px test input'``.
    """
    state_dict, meta = _unpack(state_dict, meta)
    classes = (meta.get('dataset_meta') or {}).get('classes') or \
        meta.get('CLASSES')
    count = head_classes(state_dict) or (len(classes) if classes else None)
    parts = [f'{count} classes' if count else 'no classifier head']
    cfg = _meta_config(meta)
    shapes = f' [{arch_from_keys(state_dict)}]' if state_dict else ''
    if meta.get('arch'):
        parts.append(f"{meta['arch']}{shapes}")
    elif _backbone_of(cfg):
        parts.append(f'{_describe_backbone(_backbone_of(cfg))}{shapes}')
    else:
        parts.append(shapes.strip(' []') or 'unknown architecture')
    size = input_size(cfg) if cfg is not None else None
    if size:
        parts.append(f'{size} px test input')
    return ', '.join(parts)


# --------------------------------------------------------------------------
# Tensors against the model
# --------------------------------------------------------------------------
def _compare(expected: Dict[str, Any], found: Dict[str, Any]
             ) -> Dict[str, List[str]]:
    """Missing, unexpected and mis-shaped keys of ``found``."""
    missing = [k for k in expected if k not in found
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in found if k not in expected]
    shapes = []
    for key in expected:
        if key in found and hasattr(found[key], 'shape') and \
                tuple(found[key].shape) != tuple(expected[key].shape):
            shapes.append(f'{key}: {tuple(found[key].shape)} in the '
                          f'checkpoint, {tuple(expected[key].shape)} in the '
                          'model')
    return dict(missing=missing, unexpected=unexpected, shapes=shapes)


def _split_head(problems: Dict[str, List[str]]
                ) -> Tuple[Dict[str, List[str]], Dict[str, List[str]]]:
    body = {k: [x for x in v if not x.startswith(HEAD_PREFIX)]
            for k, v in problems.items()}
    head = {k: [x for x in v if x.startswith(HEAD_PREFIX)]
            for k, v in problems.items()}
    return body, head


def _problem_text(problems: Dict[str, List[str]]) -> str:
    words = dict(missing='missing from the checkpoint',
                 shapes='with another shape',
                 unexpected='not in the model')
    lines = []
    for kind, keys in problems.items():
        if keys:
            shown = '; '.join(keys[:_EXAMPLES])
            more = f' (+{len(keys) - _EXAMPLES} more)' \
                if len(keys) > _EXAMPLES else ''
            lines.append(f'{len(keys)} tensors {words[kind]}: {shown}{more}')
    return '. '.join(lines)


def _log(logger: Optional[logging.Logger], message: str,
         level: int = logging.WARNING) -> None:
    print_log(message, logger=logger or MMLogger.get_current_instance(),
              level=level)


def check_checkpoint_fits(model: Any,
                          state_dict: Dict[str, Any],
                          source: str,
                          *,
                          allow_new_head: bool = False,
                          logger: Optional[logging.Logger] = None,
                          meta: Optional[dict] = None) -> None:
    """Raise unless the checkpoint's tensors fit the model.

    Args:
        model: The built model (a DDP wrapper is unwrapped).
        state_dict: The checkpoint's tensors, or the whole checkpoint dict
            (then its ``meta`` describes it in the message).
        source: The checkpoint's file name, for messages.
        allow_new_head: Fine-tuning (``load_from``): a head of another shape
            is re-initialised, logged once, instead of refused.
        logger: Where to log; mmengine's current logger by default.
        meta: The checkpoint's ``meta`` when ``state_dict`` is bare.

    Raises:
        CheckpointMismatchError: Backbone/neck tensors are missing or have
            another shape, or the head does not fit and ``allow_new_head``
            is False.
    """
    model = getattr(model, 'module', model)
    found, meta = _unpack(state_dict, meta)
    expected = model.state_dict()
    body, head = _split_head(_compare(expected, found))
    holds = describe_checkpoint(found, meta)
    wants = describe_checkpoint(expected, {})
    if any(body.values()):
        raise CheckpointMismatchError(
            f'Checkpoint {source} does not fit this model: it holds '
            f'{holds}; the config builds {wants}. {_problem_text(body)}. '
            'Use the config the checkpoint was trained with (or its work '
            'dir), or a checkpoint trained with this config.')
    if not any(head.values()):
        return
    old, new = head_classes(found), head_classes(expected)
    if allow_new_head:
        counts = f'{old or "?"} → {new or "?"} classes'
        _log(logger, f'head re-initialised: {counts} ({source}: its head '
             'does not fit this config, so it is trained from scratch)',
             logging.INFO)
        return
    raise CheckpointMismatchError(
        f'Checkpoint {source} does not fit this model\'s head: it holds '
        f'{holds}; the config expects {new or "?"} classes '
        f'(model.head.num_classes). {_problem_text(head)}. Use the config '
        'it was trained with (or its work dir); to fine-tune from it, set '
        f'load_from={source} in a training config instead (the head is '
        're-initialised).')


# --------------------------------------------------------------------------
# The training config against the config in use
# --------------------------------------------------------------------------
def input_size(cfg: Config) -> Optional[int]:
    """The network input side from the test pipeline (crop, else resize).

    Args:
        cfg: A full config.

    Returns:
        Pixels, or None when the pipeline does not say.
    """
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except (AttributeError, KeyError):
        return None
    size = None
    for step in pipeline:
        kind = str(step.get('type', '')).split('.')[-1]
        value = step.get('crop_size') if 'Crop' in kind else \
            step.get('scale') if 'Resize' in kind else None
        if value is not None:
            size = value
    if isinstance(size, (list, tuple)):
        size = max(size)
    return int(size) if size is not None else None


def config_classes(cfg: Config) -> Optional[List[str]]:
    """Class names a config's test dataset uses, when it says.

    Args:
        cfg: A full config.

    Returns:
        An explicit ``classes`` list, else the dataset type's ``METAINFO``
        classes; None for ``'folders'``, class files or unknown types.
    """
    try:
        dataset = cfg.test_dataloader.dataset
    except (AttributeError, KeyError):
        return None
    classes = dataset.get('classes')
    if isinstance(classes, (list, tuple)):
        return list(classes)
    if classes is not None:
        return None
    from mmpretrain.registry import DATASETS
    kind = DATASETS.get(dataset.get('type', '')) if dataset.get('type') \
        else None
    found = getattr(kind, 'METAINFO', {}).get('classes')
    return list(found) if found else None


def _classes_differ(meta: dict, cfg: Config) -> Optional[str]:
    saved = (meta.get('dataset_meta') or {}).get('classes')
    wanted = config_classes(cfg)
    if not saved or not wanted or len(saved) != len(wanted) or \
            list(saved) == list(wanted):
        return None  # unknown, or a count mismatch (the head check's job)
    diff = [(i, a, b) for i, (a, b) in enumerate(zip(saved, wanted)) if a != b]
    shown = ', '.join(f'#{i}: {a!r} vs {b!r}' for i, a, b in diff[:3])
    return (f'its class names differ from the config\'s at {len(diff)} of '
            f'{len(saved)} positions ({shown})')


def check_checkpoint_matches_config(meta: Optional[dict],
                                    cfg: Config,
                                    source: str,
                                    *,
                                    allow_new_head: bool = False,
                                    evaluating: bool = True,
                                    logger: Optional[logging.Logger] = None
                                    ) -> List[str]:
    """Compare the checkpoint's training config with the config in use.

    Args:
        meta: The checkpoint's ``meta`` (``cfg`` holds the training config's
            text, ``dataset_meta`` its class names). None checks nothing.
        cfg: The config in use.
        source: The checkpoint's file name, for messages.
        allow_new_head: Fine-tuning: class names are not compared.
        evaluating: Labels come from the config's dataset (test, resume):
            other class names are refused. False for inference, where the
            checkpoint's own names are used: then they are only reported.
        logger: Where to log; mmengine's current logger by default.

    Returns:
        The warnings logged (input size, and class names when not
        evaluating).

    Raises:
        CheckpointMismatchError: Another backbone, or (when evaluating)
            other class names.
    """
    meta = meta or {}
    saved_cfg = _meta_config(meta)
    warnings = []
    old, new = _backbone_of(saved_cfg), _backbone_of(cfg)
    if old and new and any(old.get(k) != new.get(k) for k in old):
        raise CheckpointMismatchError(
            f'Checkpoint {source} was trained with backbone '
            f'{_describe_backbone(old)}; the config in use builds '
            f'{_describe_backbone(new)}. Use the config it was trained with '
            '(or its work dir).')
    classes = None if allow_new_head else _classes_differ(meta, cfg)
    if classes and evaluating:
        raise CheckpointMismatchError(
            f'Checkpoint {source}: {classes}, so labels would be scored '
            'against the wrong classes. Use a config with the class list '
            'the checkpoint was trained on.')
    if classes:
        warnings.append(f'Checkpoint {source}: {classes}; predictions use '
                        'the checkpoint\'s names.')
    size_old = input_size(saved_cfg) if saved_cfg is not None else None
    size_new = input_size(cfg)
    if size_old and size_new and size_old != size_new:
        warnings.append(
            f'Checkpoint {source} was made for {size_old} px input (test '
            f'pipeline of its training config); the config in use feeds '
            f'{size_new} px. Results will differ from its validation: use '
            'the config it was trained with (or its work dir).')
    for message in warnings:
        _log(logger, message)
    return warnings
