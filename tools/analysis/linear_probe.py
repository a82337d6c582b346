#!/usr/bin/env python
"""Linear probe of a config: the floor a fine-tuning run must beat.

Runs the (frozen, eval-mode) backbone once over the train and val splits
(features cached under ``--cache-dir``), fits the config's head to
convergence by L-BFGS for each weight decay of a grid, keeps the best on
val and prints val top-1 (and test top-1 when the config's test split is
not the val split). Seconds at 64 px, a few minutes at 224 px on a CPU.

Example::

    python tools/analysis/linear_probe.py \\
        configs/efficientnet-lite0_fruit.py \\
        --cfg-options data_root=data/fmnist
"""
import argparse
import json
import time

from mmengine.config import Config, DictAction


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('config', help='config of the model to probe')
    parser.add_argument('--checkpoint', help="weights (default: the config's "
                        'load_from)')
    parser.add_argument('--cache-dir', default='work_dirs/probe_cache',
                        help="feature cache folder ('' for memory only)")
    parser.add_argument('--weight-decays', type=float, nargs='+',
                        help='grid chosen from on val (default: 1e-4..0.1)')
    parser.add_argument('--max-iter', type=int, default=300,
                        help='L-BFGS iterations per fit')
    parser.add_argument('--threads', type=int, help='torch threads')
    parser.add_argument('--out', help='also write the figures to this JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def main() -> None:
    """Probe and print."""
    start = time.perf_counter()
    args = parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from fruit_ext.engine import DEFAULT_WEIGHT_DECAYS, probe_config
    from fruit_ext.engine.probe_config import read_external_configs_once
    read_external_configs_once()
    cfg = Config.fromfile(args.config)
    report = probe_config(
        cfg, args.checkpoint, args.cfg_options, args.cache_dir or None,
        args.weight_decays or DEFAULT_WEIGHT_DECAYS, args.max_iter)
    result = report['result']
    print('val top-1 by weight decay: ' + ', '.join(
        f'{k:g}: {v:.2f}' for k, v in sorted(result.val_by_decay.items())))
    print(f'weight decay {result.weight_decay:g}: train top-1 '
          f'{result.train_top1:.2f} %, loss {result.train_loss:.4f}')
    print(f'linear probe val top-1: {result.val_top1:.2f} %')
    if report['test_top1'] is not None:
        print(f"linear probe test top-1: {report['test_top1']:.2f} % "
              f"(macro recall {report['test_macro_recall']:.2f} %)")
    wall = time.perf_counter() - start
    print(f'{wall:.1f} s in all (fit {result.seconds:.1f} s)')
    if args.out:
        figures = {k: v for k, v in report.items()
                   if k not in ('result', 'model')}
        figures.update(result.summary(), wall_s=round(wall, 1))
        with open(args.out, 'w') as file:
            json.dump(figures, file, indent=1)


if __name__ == '__main__':
    main()
