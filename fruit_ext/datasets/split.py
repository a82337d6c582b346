"""Split a ``root/<class>/*`` folder into ``out/{train,val[,test]}/<class>/``.

Per-class (stratified) and deterministic: files are ordered by a hash of the
seed and their path, so the same seed gives the same split on any machine,
whatever order the file system lists them in. Given groups (near-duplicates,
bursts of photos: :mod:`fruit_ext.datasets.health.groups`), each group goes
to one split as a whole.
"""
import hashlib
import math
import os
import os.path as osp
import shutil
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from rich.progress import track

from .class_counts import Counts
from .fruit30 import IMG_EXTENSIONS
from .hidden import class_folders, walk_visible

SPLIT_NAMES = ('train', 'val', 'test')
MODES = ('copy', 'symlink', 'move')


@dataclass
class SplitPlan:
    """Which file of each class goes to which split.

    Args:
        src: Source root.
        files: {split: {class: [paths relative to the class folder]}}.
        warnings: Classes too small to split, and the like.
        ignored: Files skipped because their extension is not an image's.
        hidden: Hidden files and folders skipped (relative to ``src``).
        groups_kept: Groups of 2+ images each kept inside one split.
    """

    src: str
    files: Dict[str, Dict[str, List[str]]]
    warnings: List[str] = field(default_factory=list)
    ignored: int = 0
    hidden: List[str] = field(default_factory=list)
    groups_kept: int = 0

    @property
    def counts(self) -> Counts:
        """Images per class and split."""
        return {split: {name: len(paths) for name, paths in per_class.items()}
                for split, per_class in self.files.items()}


def split_sizes(total: int, ratios: Sequence[float]) -> List[int]:
    """Share ``total`` items by ``ratios`` (largest remainders get the rest).

    Args:
        total: Number of items.
        ratios: Fractions summing to 1.

    Returns:
        One count per ratio, summing to ``total``.
    """
    exact = [total * ratio for ratio in ratios]
    sizes = [math.floor(value) for value in exact]
    order = sorted(range(len(ratios)),
                   key=lambda i: (sizes[i] - exact[i], i))
    for i in order[:total - sum(sizes)]:
        sizes[i] += 1
    return sizes


def _class_files(folder: str, extensions: Sequence[str]
                 ) -> Tuple[List[str], int, List[str]]:
    """Images (relative, '/'), other visible files, hidden entries."""
    files, hidden = walk_visible(folder)
    images = [osp.relpath(path, folder).replace(os.sep, '/')
              for path in files if path.lower().endswith(tuple(extensions))]
    return images, len(files) - len(images), hidden


def _order_key(seed: int, name: str, relative: str) -> str:
    return hashlib.sha256(f'{seed}/{name}/{relative}'.encode()).hexdigest()


Unit = List[Tuple[str, str]]  # (class, path relative to the class folder)


def _units(images: Dict[str, List[str]],
           groups: Dict[str, str]) -> Dict[str, List[Unit]]:
    """Per class, the units to place: single images and whole groups.

    A group is placed with the class most of its members carry (ties: the
    first name), its other members following it.
    """
    members: Dict[str, Unit] = {}
    units: Dict[str, List[Unit]] = {name: [] for name in images}
    for name, paths in images.items():
        for relative in paths:
            key = groups.get(f'{name}/{relative}')
            if key is None:
                units[name].append([(name, relative)])
            else:
                members.setdefault(key, []).append((name, relative))
    for unit in members.values():
        names = [name for name, _ in unit]
        home = min(set(names), key=lambda n: (-names.count(n), n))
        units[home].append(sorted(unit))
    return units


def _place(units: List[Unit], sizes: List[int],
           splits: Sequence[str]) -> Dict[str, Unit]:
    """Fill the splits in order; a group goes where it fits whole."""
    left = list(sizes)
    placed: Dict[str, Unit] = {split: [] for split in splits}
    for unit in units:
        fits = [i for i, n in enumerate(left) if n >= len(unit)]
        index = fits[0] if fits else max(range(len(left)),
                                         key=lambda i: (left[i], -i))
        left[index] -= len(unit)
        placed[splits[index]] += unit
    return placed


def plan_split(src: str,
               ratios: Sequence[float] = (0.8, 0.2),
               seed: int = 0,
               extensions: Sequence[str] = IMG_EXTENSIONS,
               groups: Optional[Dict[str, str]] = None) -> SplitPlan:
    """Decide the split of every image under ``src/<class>/``.

    Args:
        src: Root holding one folder per class (nested folders allowed).
        ratios: Fractions for train, val (and test); they must sum to 1.
        seed: Same seed, same split.
        extensions: File extensions counted as images.
        groups: ``{'<class>/<path in the class folder>': group key}``;
            images sharing a key land in the same split (classes are then
            split as close to the ratios as whole groups allow).

    Returns:
        The plan.

    Raises:
        FileNotFoundError: ``src`` is not a folder.
        ValueError: Bad ratios, or no class folders.
    """
    if not 2 <= len(ratios) <= 3 or any(r < 0 for r in ratios) or \
            abs(sum(ratios) - 1) > 1e-6:
        raise ValueError(f'ratios must be 2 or 3 non-negative fractions for '
                         f'{"/".join(SPLIT_NAMES)} summing to 1, got '
                         f'{list(ratios)}')
    if not osp.isdir(src):
        raise FileNotFoundError(f'{src} is not a folder')
    classes = class_folders(src)
    if not classes:
        raise ValueError(f'{src} holds no class folders (expected '
                         f'{src}/<class>/<image>)')
    splits = SPLIT_NAMES[:len(ratios)]
    plan = SplitPlan(src=src, files={split: {name: [] for name in classes}
                                     for split in splits})
    images = {}
    plan.hidden = sorted(n for n in os.listdir(src) if n.startswith('.'))
    for name in classes:
        images[name], ignored, hidden = _class_files(osp.join(src, name),
                                                     extensions)
        plan.ignored += ignored
        plan.hidden += [f'{name}/{entry}' for entry in hidden]
    units = _units(images, groups or {})
    plan.groups_kept = sum(len(u) > 1 for per in units.values() for u in per)
    for name in classes:
        units[name].sort(key=lambda unit: _order_key(seed, *unit[0]))
        total = sum(len(unit) for unit in units[name])
        sizes = split_sizes(total, ratios)
        for split, unit in _place(units[name], sizes, splits).items():
            for owner, relative in unit:
                plan.files[split][owner].append(relative)
        empty = [split for split, size, ratio in zip(splits, sizes, ratios)
                 if size == 0 and ratio > 0]
        if empty:
            plan.warnings.append(
                f'class {name!r} has {len(images[name])} image(s), too few '
                f'to split {"/".join(f"{r:g}" for r in ratios)}: '
                f'{", ".join(empty)} get(s) none of it')
    for per_class in plan.files.values():
        for name in per_class:
            per_class[name].sort()
    return plan


def path_inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or below it (links resolved).

    Args:
        path: A path.
        folder: A folder.

    Returns:
        True when ``path`` lies inside ``folder``.
    """
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def apply_split(plan: SplitPlan, out: str, mode: str = 'copy',
                force: bool = False) -> None:
    """Write the split: ``out/<split>/<class>/...`` for every class.

    Every class folder is created in every split, empty or not, so all
    splits list the same classes.

    Args:
        plan: What goes where.
        out: Output root.
        mode: 'copy', 'symlink' (absolute links to the source) or 'move'
            (the only mode that changes the source).
        force: Write into a non-empty ``out``.

    Raises:
        ValueError: Unknown mode, or ``out`` and the source overlap.
        FileExistsError: ``out`` is not empty and ``force`` is off.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    if path_inside(out, plan.src) or path_inside(plan.src, out):
        raise ValueError(f'output {out} and source {plan.src} overlap; '
                         'choose an output folder outside the source')
    if osp.isdir(out) and os.listdir(out) and not force:
        raise FileExistsError(f'output {out} is not empty; pass --force to '
                              'write into it anyway')
    jobs = []
    for split, per_class in plan.files.items():
        for name, paths in per_class.items():
            os.makedirs(osp.join(out, split, name), exist_ok=True)
            jobs += [(osp.join(plan.src, name, relative),
                      osp.join(out, split, name, relative))
                     for relative in paths]
    for source, target in track(jobs, description=f'{mode} files'):
        os.makedirs(osp.dirname(target), exist_ok=True)
        if osp.lexists(target):
            os.remove(target)
        if mode == 'copy':
            shutil.copy2(source, target)
        elif mode == 'symlink':
            os.symlink(osp.abspath(source), target)
        else:
            shutil.move(source, target)
