"""Figures and Markdown of the calibration benchmark (calibration_real.py)."""
import argparse
import platform
from datetime import date
from statistics import mean, stdev
from typing import Dict, List

import numpy as np

from fruit_ext.evaluation.calibration import (auroc, choose_threshold, ece,
                                              fit_temperature, ood_score,
                                              softmax)

#: candidate "unknown" scores: (label, score kind, calibrated)
CANDIDATES = [('max softmax, uncalibrated (baseline)', 'msp', False),
              ('max softmax, calibrated', 'msp', True),
              ('energy, T = 1', 'energy', False),
              ('energy, calibrated T', 'energy', True)]


def all10_figures(data: Dict[str, np.ndarray]) -> Dict[str, float]:
    """ECE, top-1 and TTA figures of one ten-class run."""
    temperature = fit_temperature(data['val_logits'], data['val_labels'])
    logits, labels = data['test_logits'], data['test_labels']
    tta = (logits + data['test_flip_logits']) / 2
    count = len(labels)
    plain_s = data['test_load_s'] + data['test_plain_s']
    return dict(
        temperature=temperature,
        ece_before=100 * ece(softmax(logits), labels),
        ece_after=100 * ece(softmax(logits, temperature), labels),
        top1_before=100 * float((logits.argmax(1) == labels).mean()),
        top1_after=100 * float((softmax(logits, temperature).argmax(1)
                                == labels).mean()),
        top1_tta=100 * float((tta.argmax(1) == labels).mean()),
        ece_tta_after=100 * ece(softmax(tta, temperature), labels),
        images_s=count / float(plain_s),
        images_s_tta=count / float(plain_s + data['test_flip_s']))


def known8_figures(data: Dict[str, np.ndarray], holdout_labels: List[int],
                   accept: float) -> Dict[str, float]:
    """AUROC and the val-chosen threshold's shares of one known8 run.

    Args:
        data: The run's logits (test labels are ten-class folder indices).
        holdout_labels: Ten-class labels of the near and far held-out class.
        accept: Val acceptance the threshold is chosen for.
    """
    temperature = fit_temperature(data['val_logits'], data['val_labels'])
    labels = data['test_labels']
    figures = dict(temperature=temperature)
    for label, kind, calibrated in CANDIDATES:
        t = temperature if calibrated else 1.0
        val = ood_score(data['val_logits'], t, kind)
        test = ood_score(data['test_logits'], t, kind)
        known = test[~np.isin(labels, holdout_labels)]
        threshold = choose_threshold(val, accept)
        figures[f'{label}|accepted known'] = 100 * float(
            (known >= threshold).mean())
        for tag, held in zip(('near', 'far'), holdout_labels):
            unknown = test[labels == held]
            figures[f'{label}|auroc {tag}'] = 100 * auroc(known, unknown)
            figures[f'{label}|rejected {tag}'] = 100 * float(
                (unknown < threshold).mean())
    return figures


def _ms(values: List[float], digits: int = 2) -> str:
    spread = stdev(values) if len(values) > 1 else float('nan')
    return f'{mean(values):.{digits}f} ± {spread:.{digits}f}'


def _per_seed(values: List[float], digits: int = 2) -> str:
    return ', '.join(f'{v:.{digits}f}' for v in values)


def markdown(results: List[dict], args: argparse.Namespace) -> str:
    """The benchmark's section text."""
    names = results[0]['classes'] if results else []
    held = [names.index(name) for name in args.holdout] if names else []
    ten = [all10_figures(r['data']) for r in results if r['name'] == 'all10']
    eight = [known8_figures(r['data'], held, args.accept)
             for r in results if r['name'] == 'known8']
    loads = [round(r['load_start'], 1) for r in results] + \
        [round(r['load_end'], 1) for r in results]
    lines = [
        f'EfficientNet-Lite0 recipe (configs/efficientnet-lite0_fruit.py), '
        f'Fashion-MNIST at {args.size} px, {args.train_per_class} train / '
        f'{args.val_per_class} val images per class, {args.epochs} epochs, '
        f'test: the whole 10,000-image test file; seeds '
        f'{", ".join(str(s) for s in args.seeds)} ({len(ten)} ten-class and '
        f'{len(eight)} eight-class runs); temperature and threshold fitted '
        f'on val only. {date.today()}, {platform.machine()}, 1 thread per '
        f'run, 2 runs at a time, load average {min(loads, default=0)}-'
        f'{max(loads, default=0)}. `python tools/benchmark/'
        'calibration_real.py --write-docs`.', '']
    if ten:
        col = {k: [f[k] for f in ten] for k in ten[0]}
        lines += [
            '| ten classes, test file | mean ± std | per seed |',
            '|---|---|---|',
            f'| temperature (fitted on val) | {_ms(col["temperature"])} | '
            f'{_per_seed(col["temperature"])} |',
            f'| ECE before, % | {_ms(col["ece_before"])} | '
            f'{_per_seed(col["ece_before"])} |',
            f'| ECE after temperature scaling, % | {_ms(col["ece_after"])} | '
            f'{_per_seed(col["ece_after"])} |',
            f'| top-1 before / after, % | {_ms(col["top1_before"])} / '
            f'{_ms(col["top1_after"])} | {_per_seed(col["top1_before"])} |',
            f'| top-1 with TTA (flip, logits averaged), % | '
            f'{_ms(col["top1_tta"])} | {_per_seed(col["top1_tta"])} |',
            '| TTA top-1 change, points | ' + _ms([
                a - b for a, b in zip(col['top1_tta'], col['top1_before'])])
            + ' | ' + _per_seed([a - b for a, b in zip(
                col['top1_tta'], col['top1_before'])]) + ' |',
            f'| ECE with TTA, same temperature, % | '
            f'{_ms(col["ece_tta_after"])} | {_per_seed(col["ece_tta_after"])}'
            ' |',
            f'| images/s without / with TTA (1 thread, decoding included) | '
            f'{_ms(col["images_s"], 0)} / {_ms(col["images_s_tta"], 0)} | |',
            '']
    if eight:
        near, far = args.holdout
        lines += [
            f'Eight known classes; held out: {near} (near: T-shirt, Pullover '
            f'and Coat are known) and {far} (far). Threshold chosen on val '
            f'for {args.accept:.0%} acceptance of known images.', '',
            f'| score | AUROC {near}, % | AUROC {far}, % | {near} rejected, %'
            f' | {far} rejected, % | known test accepted, % |',
            '|---|---|---|---|---|---|']
        for label, _, _ in CANDIDATES:
            cells = [_ms([f[f'{label}|{key}'] for f in eight], 1) for key in (
                'auroc near', 'auroc far', 'rejected near', 'rejected far',
                'accepted known')]
            lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
        base, chosen = CANDIDATES[0][0], CANDIDATES[3][0]
        cells = [_per_seed([f[f'{chosen}|{key}'] - f[f'{base}|{key}']
                            for f in eight], 1) for key in (
            'auroc near', 'auroc far', 'rejected near', 'rejected far',
            'accepted known')]
        lines += [f'| {chosen} - baseline, per seed | ' + ' | '.join(cells)
                  + ' |', '']
    return '\n'.join(lines)
