"""Keep the on-the-fly val split of a work dir where it was.

``plan_split`` places every image by its rank among its class's images, so
photos added between two runs move the train/val boundary: resuming a run
could then validate on images it had trained on. FruitRunner records the
split of a work dir in ``{work_dir}/holdout_split.json`` at its first start;
later starts keep each recorded image in its split and place only new images
by the rules. Made with other settings (source, ratio, seed), the record is
replaced (the old one kept as ``.previous``), with a warning.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

from mmengine.dist import is_main_process

from .split import SplitPlan

RECORD_NAME = 'holdout_split.json'


def _read(path: str) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as file:
            return json.load(file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ValueError(
            f'{path}: the recorded val split of this work dir cannot be '
            f'read ({error}). Move it away to record a new one (a resumed '
            'run may then validate on images it trained on).') from error


def _write(path: str, key: dict, plan: SplitPlan) -> None:
    if not is_main_process():  # every rank computes the same plan
        return
    temporary = f'{path}.tmp{os.getpid()}'
    with open(temporary, 'w', encoding='utf-8') as file:
        json.dump(dict(key, files=plan.files), file, ensure_ascii=False,
                  indent=1)
    os.replace(temporary, path)


def _keep(plan: SplitPlan, recorded: Dict[str, Dict[str, List[str]]]
          ) -> Tuple[int, int]:
    """Put recorded images back in their split; returns (moved, new)."""
    moved = new = 0
    for name in plan.files['train']:
        before = {split: set(recorded.get(split, {}).get(name, []))
                  for split in ('train', 'val')}
        placed = {'train': [], 'val': []}
        for split in ('train', 'val'):
            for relative in plan.files[split][name]:
                home = next((s for s in before if relative in before[s]),
                            None)
                new += home is None
                moved += home not in (None, split)
                placed[home or split].append(relative)
        for split, files in placed.items():
            plan.files[split][name] = sorted(files)
    return moved, new


def keep_recorded(plan: SplitPlan, record: str, ratio: float,
                  seed: int) -> Tuple[SplitPlan, str, bool]:
    """Apply (or make) the record of a work dir's holdout split.

    Args:
        plan: The train/val plan of the images there now (changed in place).
        record: Path of the record.
        ratio: The holdout ratio of the plan.
        seed: Its seed.

    Returns:
        ``(plan, what was done, whether it deserves a warning)``.
    """
    key = dict(source=osp.abspath(plan.src), ratio=ratio, seed=seed)
    if not osp.isdir(osp.dirname(osp.abspath(record))):  # a config moved
        return plan, (f'val split not recorded: the folder of {record} '
                      'does not exist'), False
    old = _read(record)
    if old is not None and {k: old.get(k) for k in key} == key:
        moved, new = _keep(plan, old.get('files', {}))
        if not new:
            return plan, f'val split as recorded in {record}', False
        _write(record, key, plan)
        return plan, (f'val split kept from {record}: {new} new image(s) '
                      f'placed by the rules, {moved} image(s) kept in the '
                      'split they had before'), False
    if old is None:
        _write(record, key, plan)
        return plan, f'val split recorded in {record}', False
    if is_main_process():
        os.replace(record, f'{record}.previous')
    _write(record, key, plan)
    return plan, (
        f'{record} was made with other settings ('
        + ', '.join(f'{k} {old.get(k)!r}' for k in key if old.get(k) !=
                    key[k])
        + f'); replaced by the split of this run (the old one is now '
        f'{record}.previous). A resumed run may now validate on images it '
        'trained on.'), True
