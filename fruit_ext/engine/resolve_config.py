"""Settings a user gives once, applied everywhere before anything is built.

mmengine substitutes a config's variables (``data_root``, ``classes``,
``max_epochs``) when the file is read, so ``--cfg-options data_root=X``
changes the variable but not the dataloaders that were filled from it, and a
cosine schedule keeps the ``T_max`` of the file. :func:`resolve_config`
compares the config in use with its file as written (read again) and makes
every place follow the value the user changed:

* ``data_root``, ``classes`` and ``holdout`` (an on-the-fly val split,
  see :class:`fruit_ext.datasets.Fruit30`): the top-level variable or any one
  dataloader's dataset; the value reaches every dataloader the user did not
  set explicitly (the top-level value wins when both are set).
* ``classes`` given at the top level (``'folders'``, a text file or a list)
  also sizes the head, the data preprocessor and the evaluator's top-k.
* ``max_epochs``: scheduler ``end``/``T_max`` written as the file's
  ``max_epochs`` follow the run's.
* ``holdout`` splits are recorded in the work dir, so later runs there keep
  their images in the same split.
"""
import copy
import functools
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
EVALUATORS = ('val_evaluator', 'test_evaluator')
_MISSING = object()


def _inner_dataset(loader: Any) -> Optional[dict]:
    """The dataset dict of a dataloader, looking inside dataset wrappers."""
    dataset = loader.get('dataset') if isinstance(loader, dict) else None
    while isinstance(dataset, dict) and 'data_root' not in dataset \
            and isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    return dataset if isinstance(dataset, dict) else None


def datasets_of(cfg: Config) -> Dict[str, dict]:
    """The dataset dict of each dataloader, by dataloader name.

    Args:
        cfg: A config.

    Returns:
        ``{'train_dataloader': {...}, ...}`` for the dataloaders present.
    """
    found = {}
    for name in LOADERS:
        dataset = _inner_dataset(cfg.get(name))
        if dataset is not None:
            found[name] = dataset
    return found


@functools.lru_cache(maxsize=64)
def _read_config(path: str, mtime_ns: int) -> Config:
    """A config file read once per version (several keys walk a chain)."""
    return Config.fromfile(path)


def read_as_written(cfg: Config) -> Optional[Config]:
    """The config file of ``cfg`` read again, without any override.

    Args:
        cfg: The config in use.

    Returns:
        The file's config, or None when ``cfg`` has no file on disk.
    """
    filename = getattr(cfg, 'filename', None)
    if not filename or not osp.isfile(filename):
        return None
    return _read_config(osp.abspath(filename), os.stat(filename).st_mtime_ns)


def chain_values(filename: Optional[str], key: str) -> List[Any]:
    """``key`` (dotted) in a config file and in each of its local bases.

    A dataloader whose value equals one of these was filled from the
    variable (in whichever file defined the dataloader), so it follows the
    variable of the config in use. Bases from other packages
    (``mmpretrain::``) are not read: they define none of our variables.

    Args:
        filename: Config file.
        key: Variable name, e.g. 'data_root' or 'train_cfg.max_epochs'.

    Returns:
        The distinct values, the file's own first.
    """
    values: List[Any] = []
    pending = [filename] if filename else []
    seen = set()
    while pending:
        path = osp.abspath(pending.pop(0))
        if path in seen or not osp.isfile(path):
            continue
        seen.add(path)
        value = _read_config(path, os.stat(path).st_mtime_ns)
        for part in key.split('.'):
            value = value.get(part, _MISSING) if isinstance(
                value, (dict, Config)) else _MISSING
        if value is not _MISSING and _plain(value) not in map(_plain, values):
            values.append(value)
        pending += [osp.join(osp.dirname(path), base)
                    for base in Config._get_base_files(path)
                    if '::' not in base]
    return values


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _short(name: str) -> str:
    return name.split('_')[0]


def sync_dataset_key(cfg: Config, written: Optional[Config],
                     key: str) -> List[str]:
    """Make a dataset setting given once reach every dataloader.

    Dataloaders filled from the variable (in any file of the config's
    chain) follow the value in use: the top-level one when the user changed
    it, else the one dataloader value the user changed (``--cfg-options
    train_dataloader.dataset.data_root=X``), else the file's own variable
    (a config that sets only ``data_root = ...`` over an inherited
    dataloader). Dataloaders set explicitly to other values keep them.

    Args:
        cfg: The config in use; changed in place.
        written: The config as written in its file (None: only the
            top-level value is known, and it applies to every dataloader).
        key: Dataset field, e.g. 'data_root' or 'classes'.

    Returns:
        Log lines saying what was applied where.
    """
    written_sets = datasets_of(written) if written is not None else {}
    # a dataset that lost the field (replaced by a type without it through
    # --cfg-options, say) takes no part
    datasets = {name: dataset for name, dataset in datasets_of(cfg).items()
                if key in dataset or key not in written_sets.get(name, {})}
    variables = chain_values(getattr(written, 'filename', None), key)
    top = cfg.get(key, _MISSING)
    top_written = written.get(key, _MISSING) if written is not None \
        else _MISSING
    by_user, follows = {}, []
    for name, dataset in datasets.items():
        as_written = written_sets.get(name, {}).get(key, _MISSING)
        if _plain(dataset.get(key, _MISSING)) != _plain(as_written):
            by_user[name] = dataset[key]
        elif written is None or as_written is _MISSING or \
                _plain(as_written) in map(_plain, variables):
            follows.append(name)
    distinct = {repr(_plain(value)): value for value in by_user.values()}
    if top is not _MISSING and _plain(top) != _plain(top_written):
        target, source = top, f'`{key}`'
    elif len(distinct) == 1:
        target = next(iter(distinct.values()))
        source = ' and '.join(f'`{name}.dataset.{key}`' for name in by_user)
    elif top is not _MISSING:
        target, source = top, 'the config file'
    else:
        return []
    for name in follows:
        datasets[name][key] = copy.deepcopy(target)
    if top is not _MISSING:
        cfg[key] = copy.deepcopy(target)
    if not by_user and source == 'the config file':
        return []  # nothing to report: the file's own value everywhere
    shown = target if key != 'classes' or isinstance(target, str) \
        else f'{len(target)} classes'
    kept = [f'{_short(n)}={datasets[n][key]!r}' for n in datasets
            if n not in follows and _plain(datasets[n][key]) != _plain(target)]
    return [f'{key} {shown!r} (set by {source}) used by '
            + '/'.join(_short(n) for n in follows + list(by_user)
                       if _plain(datasets[n][key]) == _plain(target))
            + (f'; set separately: {", ".join(kept)}' if kept else '')]


def _split_folder(dataset: dict) -> str:
    root = dataset.get('data_root') or ''
    prefix = dataset.get('data_prefix') or dataset.get('split') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '')
    folder = osp.join(root, prefix)
    # a flat class-folder root, or train/ only: classes come from what exists
    if not osp.isdir(folder) and dataset.get('holdout'):
        train = osp.join(root, 'train')
        folder = train if osp.isdir(train) else root
    return folder


def class_names(spec: Any, dataset: dict) -> Tuple[str, ...]:
    """Class names from ``'folders'``, a text file or a list.

    ``'folders'`` reads ``{data_root}/classes.txt`` when it exists, else the
    sorted sub-folders of the dataset's image folder.

    Args:
        spec: The ``classes`` setting.
        dataset: The training dataset dict (for its folders).

    Returns:
        The class names.
    """
    from fruit_ext.datasets.fruit30 import Fruit30
    if spec == 'folders':
        listed = osp.join(dataset.get('data_root') or '', 'classes.txt')
        if osp.isfile(listed):
            spec = listed
    return Fruit30.resolve_classes(spec, _split_folder(dataset))


def _size_evaluator(evaluator: Any, num_classes: int) -> None:
    for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
        if isinstance(metric, dict) and metric.get('type') == 'Accuracy':
            topk = metric.get('topk', (1, ))
            topk = topk if isinstance(topk, (list, tuple)) else (topk, )
            metric['topk'] = tuple(k for k in topk if k <= num_classes) or (1,)


def resolve_classes(cfg: Config) -> List[str]:
    """Turn ``classes`` into explicit names; size the model when asked.

    When the top-level ``classes`` is set (the folder configs, or
    ``--cfg-options classes=folders``) the head, the data preprocessor and
    the Accuracy top-k follow the class count. Otherwise the head must
    already match: a mismatch is an error with the fix.

    Args:
        cfg: The config in use; changed in place.

    Returns:
        Log lines.

    Raises:
        ValueError: The head's class count differs from the dataset's.
    """
    datasets = datasets_of(cfg)
    train = datasets.get('train_dataloader') or next(iter(datasets.values()),
                                                     None)
    if train is None or train.get('classes') is None:
        return []
    spec = _plain(train['classes'])
    names = list(class_names(spec, train))
    for dataset in datasets.values():
        if _plain(dataset.get('classes')) == spec:
            dataset['classes'] = names
    head = cfg.get('model', {}).get('head', {})
    expected = head.get('num_classes')
    if 'classes' in cfg:
        cfg['classes'] = names
        head['num_classes'] = len(names)
        for holder in (cfg, cfg.get('model', {})):
            if isinstance(holder.get('data_preprocessor'), dict) and \
                    'num_classes' in holder['data_preprocessor']:
                holder['data_preprocessor']['num_classes'] = len(names)
        for name in EVALUATORS:
            if name in cfg:
                _size_evaluator(cfg[name], len(names))
        return [f'{len(names)} classes: {", ".join(names[:10])}'
                + (' ...' if len(names) > 10 else '')
                + f'; head, preprocessor and top-k sized to {len(names)}']
    if expected is not None and expected != len(names):
        raise ValueError(
            f'The dataset has {len(names)} classes but model.head.num_classes '
            f'is {expected}: the head would {"miss" if expected < len(names) else "waste"} '
            f'classes. Pass `--cfg-options classes={train["classes"]!r}` to '
            'size the head, preprocessor and top-k from the classes, or set '
            f'`model.head.num_classes={len(names)} '
            f'data_preprocessor.num_classes={len(names)}`, or use '
            'configs/folder/mobilenet-v2_folder.py.')
    return []


def _schedulers(cfg: Config) -> List[dict]:
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    return [s for s in schedulers if isinstance(s, dict)]


def follow_max_epochs(cfg: Config, written: Optional[Config]) -> List[str]:
    """Stretch epoch-based schedules written for another ``max_epochs``.

    A scheduler whose ``end`` is the ``max_epochs`` of its config file or
    of one of its local bases (or whose ``T_max`` is that minus ``begin``)
    is moved to the run's ``max_epochs``; a top-level ``max_epochs`` the
    user changed reaches ``train_cfg.max_epochs``.

    Args:
        cfg: The config in use; changed in place.
        written: The config as written in its file.

    Returns:
        Log lines.
    """
    if written is None or not isinstance(cfg.get('train_cfg'), dict):
        return []
    written_max = (written.get('train_cfg') or {}).get('max_epochs')
    if 'max_epochs' in cfg and cfg['max_epochs'] != written.get(
            'max_epochs') and cfg['train_cfg'].get('max_epochs') == \
            written_max:
        cfg['train_cfg']['max_epochs'] = cfg['max_epochs']
    new = cfg['train_cfg'].get('max_epochs')
    # a schedule written for any file's max_epochs along the _base_ chain
    olds = [old for old in chain_values(written.filename,
                                        'train_cfg.max_epochs')
            if old != new]
    if new is None or not olds:
        return []
    moved = []
    for scheduler in _schedulers(cfg):
        if not scheduler.get('by_epoch', True):
            continue
        begin = scheduler.get('begin', 0)
        if new <= begin:  # e.g. a 1-epoch run: the cosine after warm-up
            continue      # never starts; moving its end would be invalid
        if scheduler.get('end') in olds:
            old = scheduler['end']
            scheduler['end'] = new
            moved.append(scheduler.get('type', '?'))
        if scheduler.get('T_max') in [o - begin for o in olds]:
            old = scheduler['T_max'] + begin
            scheduler['T_max'] = new - begin
            moved.append(scheduler.get('type', '?'))
    if not moved:
        return []
    return [f'schedule follows max_epochs {old} -> {new} '
            f'({", ".join(sorted(set(moved)))})']


def record_holdout(cfg: Config) -> None:
    """Point every on-the-fly val split at its work dir's record.

    See :mod:`fruit_ext.datasets.holdout_record`: photos added between runs
    of one work dir do not move already used images across the split.

    Args:
        cfg: The config in use; changed in place.
    """
    from fruit_ext.datasets.holdout_record import RECORD_NAME
    if not cfg.get('work_dir'):
        return
    record = osp.join(osp.abspath(cfg['work_dir']), RECORD_NAME)
    for dataset in datasets_of(cfg).values():
        holdout = dataset.get('holdout')
        if isinstance(holdout, dict) and 'record' not in holdout:
            dataset['holdout'] = dict(holdout, record=record)


def resolve_config(cfg: Config) -> List[str]:
    """Apply every once-given setting in place; see the module docstring.

    Args:
        cfg: The config about to build a runner.

    Returns:
        Log lines saying what was applied.
    """
    written = read_as_written(cfg)
    lines: List[str] = []
    for key in ('data_root', 'classes', 'holdout'):
        lines += sync_dataset_key(cfg, written, key)
    lines += resolve_classes(cfg)
    lines += follow_max_epochs(cfg, written)
    record_holdout(cfg)
    return lines
