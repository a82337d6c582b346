#!/usr/bin/env python
"""Near-duplicate finder on real photos: planted copies, recall, time.

Exports 1,000 Fashion-MNIST images (80 train + 20 val per class, with
``tools/dataset/export_fashion_mnist.py``), upscales them to 128 px, then
writes 50 near-copies of 50 training images into val (same class): 10 each
of resized (0.5-0.9), JPEG quality 40-70, cropped (up to 10 % per side),
brightened/darkened (+-15 %) and all four mixed. Runs
``find_duplicates`` and scores every reported pair (all pairs inside a
group) against the planted ones. ``--timing N`` also hashes N exported
images (one process) and times the matching.

    python tools/benchmark/duplicates_real.py --work /tmp/dup_bench
    python tools/benchmark/duplicates_real.py --seed 4 \\
        --setting 4 6:confirm=36 6:align=0.895:steps=5:refine=none
"""
import argparse
import io
import json
import os
import os.path as osp
import subprocess
import sys
import time
from functools import partial
from typing import Dict, List, Tuple
from unittest import mock

import numpy as np
from PIL import Image, ImageEnhance

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)
EXPORT = osp.join(REPO, 'tools', 'dataset', 'export_fashion_mnist.py')
KINDS = ('resize', 'jpeg', 'crop', 'brightness', 'mixed')


def export_upscaled(out: str, train: int, val: int, seed: int,
                    size: int = 128) -> str:
    """Export Fashion-MNIST with the real tool and upscale it in place.

    Args:
        out: Dataset root to write.
        train: Training images per class.
        val: Val images per class.
        seed: Draw seed.
        size: Side in pixels (bicubic).

    Returns:
        ``out``.
    """
    if not osp.isdir(osp.join(out, 'val')):
        subprocess.run([sys.executable, EXPORT, out, '--train-per-class',
                        str(train), '--val-per-class', str(val), '--seed',
                        str(seed)], check=True, stdout=subprocess.DEVNULL)
        for parent, _, names in os.walk(out):
            for name in names:
                path = osp.join(parent, name)
                Image.open(path).convert('RGB').resize(
                    (size, size), Image.BICUBIC).save(path)
    return out


def near_copy(image: Image.Image, kind: str,
              rng: np.random.Generator) -> Tuple[Image.Image, int]:
    """A near-copy of ``image`` and the JPEG quality to save it at (0: PNG).

    Args:
        image: RGB source.
        kind: One of :data:`KINDS`.
        rng: Random generator.

    Returns:
        (copy, quality).
    """
    quality = 0
    if kind in ('crop', 'mixed'):
        w, h = image.size  # keep 90-100 % of each side, anywhere
        cw, ch = (round(s * rng.uniform(0.9, 1.0)) for s in (w, h))
        x, y = (int(rng.integers(0, s - c + 1)) for s, c in ((w, cw), (h, ch)))
        image = image.crop((x, y, x + cw, y + ch))
    if kind in ('resize', 'mixed'):
        scale = rng.uniform(0.5, 0.9)
        image = image.resize((max(8, round(image.width * scale)),
                              max(8, round(image.height * scale))),
                             Image.BILINEAR)
    if kind in ('brightness', 'mixed'):
        factor = 1 + rng.choice([-1, 1]) * rng.uniform(0.05, 0.15)
        image = ImageEnhance.Brightness(image).enhance(factor)
    if kind in ('jpeg', 'mixed'):
        quality = int(rng.integers(40, 71))
    return image, quality


def plant(root: str, count: int, seed: int) -> List[Tuple[str, str, str]]:
    """Write ``count`` near-copies of training images into val.

    Args:
        root: Exported dataset root.
        count: Copies (spread evenly over :data:`KINDS`).
        seed: Random seed.

    Returns:
        (source path, copy path, kind) relative to the root.
    """
    rng = np.random.default_rng(seed)
    sources = sorted(osp.relpath(osp.join(p, n), root)
                     for p, _, names in os.walk(osp.join(root, 'train'))
                     for n in names)
    planted = []
    for number, index in enumerate(rng.choice(len(sources), count, False)):
        source, kind = sources[index], KINDS[number % len(KINDS)]
        label = source.split(os.sep)[1]
        image, quality = near_copy(
            Image.open(osp.join(root, source)).convert('RGB'), kind, rng)
        name = f'copy_{number:03d}.' + ('jpg' if quality else 'png')
        target = osp.join('val', label, name)
        if quality:
            buffer = io.BytesIO()
            image.save(buffer, 'JPEG', quality=quality)
            with open(osp.join(root, target), 'wb') as file:
                file.write(buffer.getvalue())
        else:
            image.save(osp.join(root, target))
        planted.append((source, target, kind))
    return planted


def score(report, planted: List[Tuple[str, str, str]]) -> Dict:
    """Recall of the planted pairs, precision of all matched pairs."""
    group_of = {report.items[i].path: g for g, members in
                enumerate(report.groups) for i in members}
    truth = {frozenset((a, b)) for a, b, _ in planted}
    reported = {frozenset((report.items[a].path, report.items[b].path))
                for a, b in report.pairs.tolist()}
    in_groups = sum(len(m) * (len(m) - 1) // 2 for m in report.groups)
    found = [(a, b, kind) for a, b, kind in planted
             if a in group_of and group_of.get(a) == group_of.get(b)]
    by_kind = {kind: sum(1 for *_, k in found if k == kind)
               for kind in KINDS}
    false = sorted(sorted(pair) for pair in reported - truth)
    return dict(recall=len(found) / len(planted),
                precision=len(reported & truth) / max(1, len(reported)),
                reported_pairs=len(reported), pairs_in_groups=in_groups,
                planted=len(planted),
                found_by_kind=by_kind, groups=len(report.groups),
                leaking_groups=len(report.leaking), false_pairs=false[:20])


def timing(work: str, images: int, copies: int = 1) -> Dict:
    """Hash ``images`` exported images in one process; time the matching.

    With ``copies`` > 1 the matching is also timed on that many copies of
    the hashes, each XORed with its own random mask (100,000 hashes from
    10,000 real ones, without hashing 100,000 files).
    """
    from fruit_ext.datasets.duplicates import (connected_groups, hash_files,
                                               list_items, near_pairs)
    per_class = images // 10
    root = export_upscaled(osp.join(work, f'fmnist_{images}'), per_class,
                           1, seed=1)
    items = [i for i in list_items(root) if i.split == 'train']
    cache = osp.join(work, f'hashes_{images}.npz')
    if osp.isfile(cache):  # the hashing figure of the run that wrote it
        stored = np.load(cache)
        array, hashing = stored['hashes'], float(stored['seconds'])
    else:
        start = time.perf_counter()
        hashes = hash_files([osp.join(root, i.path) for i in items], 1,
                            False)
        hashing = time.perf_counter() - start
        array = np.array(hashes, dtype=np.uint64)
        np.savez(cache, hashes=array, seconds=hashing)
    start = time.perf_counter()
    pairs, _ = near_pairs(array)
    groups = connected_groups(len(array), pairs)
    matching = time.perf_counter() - start
    figures = dict(images=len(items), hash_s=round(hashing, 1),
                   per_image_ms=round(1000 * hashing / len(items), 2),
                   match_s=round(matching, 2), groups=len(groups))
    if copies > 1:  # each copy XORed with its own mask: same structure
        rng = np.random.default_rng(0)
        many = np.concatenate([array ^ rng.integers(
            0, 2**63, (1, 1, 2), dtype=np.uint64) for _ in range(copies)])
        start = time.perf_counter()
        pairs, _ = near_pairs(many)
        groups = connected_groups(len(many), pairs)
        figures.update(scaled_images=len(many), scaled_pairs=len(pairs),
                       scaled_groups=len(groups),
                       scaled_match_s=round(time.perf_counter() - start, 1))
    return figures


def parse_setting(text: str) -> Tuple[int, str, float, int, object]:
    """``T``, ``T:confirm=C`` or ``T:align=A``, then optionally
    ``:steps=S`` (crop grid) and ``:refine=R`` or ``:refine=none`` (see
    ``aligned_scores``; default: the library's), as (threshold, kind,
    value, steps, refine)."""
    from fruit_ext.datasets.health.aligned import REFINE_FROM
    threshold, *parts = text.split(':')
    options = dict(part.partition('=')[::2] for part in parts)
    kind = ('align' if 'align' in options else 'confirm')
    try:
        if not threshold.isdigit() or set(options) - {
                'confirm', 'align', 'steps', 'refine'} or (
                    'confirm' in options and 'align' in options):
            raise ValueError
        refine = options.get('refine', REFINE_FROM)
        return (int(threshold), kind, float(options.get(kind, 256)),
                int(options.get('steps', 3)),
                None if refine in (None, 'none') else float(refine))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'--setting {text!r}: write T, T:confirm=C or T:align=A, '
            'optionally followed by :steps=S and :refine=R|none') from None


def main() -> None:
    """Run the benchmark and print the figures as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--work', default='/tmp/dup_bench',
                        help='exported images and results')
    parser.add_argument('--seed', type=int, default=0,
                        help='picks the images and the planted copies')
    parser.add_argument('--threshold', type=int, nargs='+', default=[4],
                        help='64-bit hash distances to try')
    parser.add_argument('--confirm', type=int, nargs='+', default=[40],
                        help='256-bit confirmation distances (256: none)')
    parser.add_argument('--align', type=float, nargs='+', default=[],
                        help='aligned detail correlations to try (each '
                        'with every threshold, no 256-bit confirmation)')
    parser.add_argument('--setting', type=parse_setting, nargs='+',
                        default=[], help='run only these settings (T, '
                        'T:confirm=C, T:align=A, each optionally with '
                        ':steps=S and :refine=R|none) instead of the grid')
    parser.add_argument('--timing', type=int, default=0,
                        help='also time hashing N images (e.g. 10000)')
    parser.add_argument('--scale', type=int, default=1,
                        help='also time matching that many copies of the '
                        'timed hashes (10: 100,000 from 10,000)')
    args = parser.parse_args()
    from fruit_ext.datasets.duplicates import (group_hashes, hash_files,
                                               list_items)
    root = osp.join(args.work, f'planted_{args.seed}')
    fresh = not osp.isdir(osp.join(root, 'val'))
    export_upscaled(root, 80, 20, args.seed)
    manifest = osp.join(root, 'planted.json')
    if fresh or not osp.isfile(manifest):
        with open(manifest, 'w') as file:
            json.dump(plant(root, 50, args.seed), file)
    with open(manifest) as file:
        planted = [tuple(p) for p in json.load(file)]
    items = list_items(root)
    from fruit_ext.datasets.health.aligned import REFINE_FROM, aligned_scores
    settings = args.setting or [
        (t, kind, value, 3, REFINE_FROM) for t in args.threshold
        for kind, values in (('confirm', args.confirm), ('align', args.align))
        for value in values]
    results = {'utc_start': time.strftime('%H:%M:%S', time.gmtime())}
    grids = {}
    for steps in sorted({s[3] for s in settings}):
        start = time.perf_counter()
        grids[steps] = hash_files([osp.join(root, i.path) for i in items], 1,
                                  False, steps)
        results[f'hash_s/steps {steps}'] = round(
            time.perf_counter() - start, 1)
    for threshold, kind, value, steps, refine in settings:
        hashes = grids[steps]
        start = time.perf_counter()
        if kind == 'align':  # group_hashes calls aligned_scores' default
            with mock.patch.object(sys.modules[group_hashes.__module__],
                                   'aligned_scores',
                                   partial(aligned_scores,
                                           refine_from=refine)):
                report = group_hashes(root, items, hashes, threshold,
                                      align=value)
        else:
            report = group_hashes(root, items, hashes, threshold,
                                  None if value >= 256 else int(value))
        name = (f'{threshold}/align {value}' if kind == 'align' else
                f'{threshold}/{int(value)}') + (
                    f'/steps {steps}' if steps != 3 else '') + (
                        f'/refine {refine}' if kind == 'align' else '')
        results[name] = dict(score(report, planted),
                             seconds=round(time.perf_counter() - start, 2))
    if args.timing:
        results['timing'] = timing(args.work, args.timing, args.scale)
    results['uptime'] = os.getloadavg()
    results['utc_end'] = time.strftime('%H:%M:%S', time.gmtime())
    print(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()
