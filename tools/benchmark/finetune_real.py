#!/usr/bin/env python
"""Compare fine-tuning recipes on real photos (Fashion-MNIST) on a 2-core CPU.

Every run trains with a real mmengine Runner on the same exported images, at
the same image size, epochs and batch size, then evaluates on the held-out
val split (drawn from the 60,000-image train file) and on images of the
10,000-image test file (never used for tuning). Compared, per seed:

* ``mbv2_course`` vs ``mbv2_ft``: MobileNetV2 from scratch with
  configs/mobilenet-v2_fruit.py vs configs/mobilenet-v2_fruit_ft.py;
* ``effl0_course`` vs ``effl0_ft``: EfficientNet-Lite0 from ImageNet weights
  with the course recipe vs configs/efficientnet-lite0_fruit.py;
* ``effl0_ft_scratch``: the same without ImageNet weights;
* ``effl0_ft_cosine``: ``effl0_ft`` with ``CosineClsHead``;
* ``effl0_ft_imb`` vs ``effl0_ft_imb_cb``: a 10:1 long-tailed training set,
  without (beta 0) and with class-balanced loss weights.

From-scratch runs of the fine-tuning recipe drop its two choices that only
make sense for pretrained weights (frozen first epoch, backbone LR x 0.3).
Runs are interleaved seed by seed, so machine load hits every configuration
alike; results land in ``WORK/results.json`` and a Markdown table, which
``--write-docs`` puts in docs/benchmarks.md.

Example (20-40 min on 2 cores shared with other jobs)::

    python tools/benchmark/finetune_real.py --write-docs
"""
import argparse
import copy
import json
import multiprocessing
import os
import os.path as osp
import platform
import re
import subprocess
import sys
import time
from datetime import date
from statistics import mean, stdev
from typing import Dict, List, Optional, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EXPORT = osp.join(REPO, 'tools', 'dataset', 'export_fashion_mnist.py')
CONVERT = osp.join(REPO, 'tools', 'model_converters', 'efficientnet_lite0.py')
DOCS = osp.join(REPO, 'docs', 'benchmarks.md')
SECTION = '## Fine-tuning on real photos'
RESULT = 'result.json'  # a finished run's figures, in its work dir
CALLS = 'calls.json'  # wall time of each call that trained runs

COURSE = 'configs/mobilenet-v2_fruit.py'
FT = 'configs/mobilenet-v2_fruit_ft.py'
EFF_FT = 'configs/efficientnet-lite0_fruit.py'
EFFNET = dict(
    model=dict(backbone=dict(_delete_=True, type='TIMMBackbone',
                             model_name='tf_efficientnet_lite0',
                             pretrained=False)),
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3))

#: name: (config, overrides, imbalanced data, ImageNet weights, scratch-ft)
RUNS: Dict[str, Tuple[str, dict, bool, bool, bool]] = {
    'mbv2_course': (COURSE, {}, False, False, False),
    'mbv2_ft': (FT, {}, False, False, True),
    'effl0_course': (COURSE, EFFNET, False, True, False),
    'effl0_ft': (EFF_FT, {}, False, True, False),
    'effl0_ft_scratch': (EFF_FT, {}, False, False, True),
    'effl0_ft_cosine': (EFF_FT, dict(model=dict(head=dict(
        type='CosineClsHead'))), False, True, False),
    'effl0_ft_imb': (EFF_FT, dict(model=dict(head=dict(loss=dict(
        beta=0.0)))), True, True, False),
    'effl0_ft_imb_cb': (EFF_FT, {}, True, True, False),
}
#: (label, baseline, candidate, metric)
COMPARISONS = [
    ('MobileNetV2 from scratch: fine-tuning recipe vs course recipe',
     'mbv2_course', 'mbv2_ft', 'top1'),
    ('EfficientNet-Lite0 (ImageNet): fine-tuning recipe vs course recipe',
     'effl0_course', 'effl0_ft', 'top1'),
    ('EfficientNet-Lite0, fine-tuning recipe: ImageNet weights vs scratch',
     'effl0_ft_scratch', 'effl0_ft', 'top1'),
    ('EfficientNet-Lite0, fine-tuning recipe: cosine head vs linear head',
     'effl0_ft', 'effl0_ft_cosine', 'top1'),
    ('10:1 imbalanced: class-balanced loss vs plain (macro recall)',
     'effl0_ft_imb', 'effl0_ft_imb_cb', 'macro_recall'),
    ('10:1 imbalanced: class-balanced loss vs plain (top-1)',
     'effl0_ft_imb', 'effl0_ft_imb_cb', 'top1'),
]


def resize_pipeline(pipeline: List[dict], size: int) -> List[dict]:
    """The same transforms, producing ``size`` px images instead of 224.

    Args:
        pipeline: Transform configs.
        size: Output side in pixels.

    Returns:
        New transform configs.
    """
    out = []
    for transform in copy.deepcopy(pipeline):
        kind = transform['type']
        if 'min_size' in transform:  # reduced JPEG decoding
            transform['min_size'] = round(size * 256 / 224)
        if kind.endswith('RandomResizedCrop'):
            transform['scale'] = size
        elif kind == 'ResizeEdge':
            transform['scale'] = round(size * 256 / 224)
        elif kind == 'CenterCrop':
            transform['crop_size'] = size
        elif kind == 'Resize':
            transform['scale'] = (size, size)
        out.append(transform)
    return out


def build_config(name: str, data_root: str, work_dir: str, seed: int,
                 args: argparse.Namespace) -> str:
    """Write the config of one run and return its path.

    Args:
        name: Key of :data:`RUNS`.
        data_root: Exported dataset root.
        work_dir: The run's work dir.
        seed: Random seed.
        args: Benchmark arguments (size, epochs, batch, checkpoint).

    Returns:
        Path of the written config.
    """
    from mmengine.config import Config
    config, overrides, _, pretrained, scratch_ft = RUNS[name]
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(copy.deepcopy(overrides))  # merging consumes _delete_
    cfg.load_from = osp.abspath(args.checkpoint) if pretrained else None
    hooks = [hook for hook in cfg.get('custom_hooks', [])
             if hook['type'] != 'EvalReportHook']
    if scratch_ft:  # random init: nothing to keep frozen or slow
        hooks = [h for h in hooks if h['type'] != 'BackboneFreezeHook']
        cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult = 1.0
    cfg.custom_hooks = hooks + [dict(type='EvalReportHook')]
    train_pipeline = resize_pipeline(cfg.train_dataloader.dataset.pipeline,
                                     args.size)
    test_pipeline = resize_pipeline(cfg.val_dataloader.dataset.pipeline,
                                    args.size)
    loader = dict(num_workers=0, persistent_workers=False)
    dataset = dict(data_root=data_root, classes='folders')
    cfg.train_dataloader.update(loader, batch_size=args.batch_size)
    cfg.train_dataloader.dataset.update(dataset, pipeline=train_pipeline)
    for split in ('val', 'test'):
        loader_cfg = copy.deepcopy(cfg.val_dataloader)
        loader_cfg.update(loader, batch_size=64)
        loader_cfg.dataset.update(dataset, split=split, data_prefix='',
                                  pipeline=test_pipeline)
        cfg[f'{split}_dataloader'] = loader_cfg
    cfg.test_evaluator = cfg.val_evaluator
    cfg.data_preprocessor.num_classes = 10
    cfg.model.head.num_classes = 10
    cfg.train_cfg.update(max_epochs=args.epochs, val_interval=args.epochs + 1)
    for scheduler in cfg.param_scheduler if isinstance(
            cfg.param_scheduler, list) else [cfg.param_scheduler]:
        if scheduler['type'] == 'CosineAnnealingLR':
            scheduler['end'] = args.epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                        save_last=False, save_best=None)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = work_dir
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'config.py')
    cfg.dump(path)
    return path


def macro_recall(csv_path: str) -> float:
    """Macro-averaged recall from an EvalReportHook CSV.

    Args:
        csv_path: ``per_class.csv``.

    Returns:
        Recall in percent.
    """
    with open(csv_path, encoding='utf-8') as file:
        return float(file.read().strip().splitlines()[-1].split(',')[3])


def run_one(task: Tuple[str, int, str]) -> dict:
    """Train one configuration, then evaluate on val and test.

    Runs in a fresh process (one task per worker process).

    Args:
        task: (run name, seed, config path).

    Returns:
        The run's figures.
    """
    name, seed, config = task
    log = os.open(osp.join(osp.dirname(config), 'run.log'),
                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)  # the Runner's log goes to the run's folder
    os.dup2(log, 2)
    import torch
    torch.set_num_threads(1)
    import fruit_ext  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    train_s = time.perf_counter() - start
    # the loops themselves, not runner.val()/test(): those call before_run
    # hooks again, and EMAHook's would reset the averaged weights
    val = runner.val_loop.run()
    val_recall = macro_recall(
        osp.join(cfg.work_dir, 'eval_report', 'last', 'per_class.csv'))
    test = runner.test_loop.run()
    test_recall = macro_recall(
        osp.join(cfg.work_dir, 'eval_report', 'test', 'per_class.csv'))
    result = dict(name=name, seed=seed, train_s=round(train_s, 1),
                  val_top1=val['accuracy/top1'], val_macro_recall=val_recall,
                  top1=test['accuracy/top1'], macro_recall=test_recall)
    with open(osp.join(cfg.work_dir, RESULT), 'w') as file:
        json.dump(result, file)
    return result


def export(root: str, seed: int, imbalanced: bool,
           args: argparse.Namespace) -> str:
    """Export one seed's images with the real export tool.

    Args:
        root: Benchmark work dir.
        seed: Data seed.
        imbalanced: Long-tailed training split.
        args: Benchmark arguments.

    Returns:
        The dataset root.
    """
    out = osp.join(root, 'data', f"{'imb' if imbalanced else 'bal'}_{seed}")
    if osp.isdir(osp.join(out, 'test')):
        return out
    cmd = [sys.executable, EXPORT, out, '--overwrite', '--seed', str(seed),
           '--train-per-class', str(args.train_per_class),
           '--val-per-class', str(args.val_per_class),
           '--test-per-class', str(args.test_per_class),
           '--imbalance', str(args.imbalance if imbalanced else 1)]
    if args.source:
        cmd += ['--source', args.source]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def summarise(results: List[dict]) -> Dict[str, Dict[str, List[float]]]:
    """Collect figures per run name.

    Args:
        results: Per-run figures.

    Returns:
        name -> metric -> values in seed order.
    """
    table: Dict[str, Dict[str, List[float]]] = {}
    for result in sorted(results, key=lambda r: r['seed']):
        row = table.setdefault(result['name'], {})
        for key, value in result.items():
            if key not in ('name', 'seed'):
                row.setdefault(key, []).append(value)
    return table


def _ms(values: List[float]) -> str:
    spread = stdev(values) if len(values) > 1 else float('nan')
    return f'{mean(values):.2f} ± {spread:.2f}'


def markdown(results: List[dict], args: argparse.Namespace,
             calls: List[dict]) -> str:
    """The results as Markdown: setup, per-run table, comparisons.

    Args:
        results: Per-run figures.
        args: Benchmark arguments.
        calls: ``{'runs', 'wall_s'}`` of each call that trained runs.

    Returns:
        Markdown text.
    """
    table = summarise(results)
    seeds = sorted({r['seed'] for r in results})
    wall = sum(call['wall_s'] for call in calls) / 60
    if len(calls) > 1:
        wall_text = f'{wall:.1f} min wall over {len(calls)} calls (' + \
            ', then '.join(f"{c['runs']} runs in {c['wall_s'] / 60:.1f} min"
                           for c in calls) + '; an interrupted call is ' \
            'resumed, its finished runs kept)'
    else:
        wall_text = f'{wall:.1f} min wall'
    lines = [
        f'Measured {date.today().isoformat()} by `python '
        f'tools/benchmark/finetune_real.py` on {platform.machine()}, '
        f'{os.cpu_count()} CPU cores shared with other jobs, '
        f'{args.jobs} runs at a time, 1 thread each: {wall_text}.',
        '',
        f'Data: Fashion-MNIST from the Debian package `dataset-fashion-mnist`'
        f' (real 28x28 product photos, 10 classes), exported by '
        f'`tools/dataset/export_fashion_mnist.py`: {args.train_per_class} '
        f'train and {args.val_per_class} val images per class, both from the'
        f' 60,000-image train file, plus {args.test_per_class} per class '
        'from the 10,000-image test file (never used for tuning); the '
        f'imbalanced set keeps {args.train_per_class} down to '
        f'{args.train_per_class / args.imbalance:.0f} training images per '
        f'class ({args.imbalance:g}:1, exponential profile). Budget per run:'
        f' {args.size} px, {args.epochs} epochs, batch {args.batch_size}. '
        f'Seeds {", ".join(map(str, seeds))} (the seed picks the images and '
        'the training randomness). Figures: mean ± sample std over seeds, '
        'in %; "test" is the test-file subset, "val" the held-out split; '
        'both are balanced, so there macro recall equals top-1. The '
        "fine-tuning recipe's settings were chosen on the val split of "
        'other (pilot) seeds, see docs/finetune.md.',
        '',
        '| run | test top-1 | val top-1 | test macro recall | train s |',
        '|---|---|---|---|---|',
    ]
    for name in RUNS:
        if name in table:
            row = table[name]
            lines.append(
                f'| `{name}` | {_ms(row["top1"])} | {_ms(row["val_top1"])} '
                f'| {_ms(row["macro_recall"])} | {mean(row["train_s"]):.0f} |')
    lines += ['', '| comparison (candidate - baseline, paired by seed) | '
              'test | val | per-seed test differences | beats spread? |',
              '|---|---|---|---|---|']
    for label, base, cand, metric in COMPARISONS:
        if base not in table or cand not in table:
            continue
        val_metric = 'val_top1' if metric == 'top1' else 'val_macro_recall'
        diffs = [c - b for b, c in zip(table[base][metric],
                                       table[cand][metric])]
        val_diffs = [c - b for b, c in zip(table[base][val_metric],
                                           table[cand][val_metric])]
        spread = max(stdev(table[base][metric]) if len(diffs) > 1 else 0,
                     stdev(table[cand][metric]) if len(diffs) > 1 else 0)
        verdict = 'yes' if mean(diffs) > spread else 'no'
        lines.append(
            f'| {label} | {mean(diffs):+.2f} | {mean(val_diffs):+.2f} | '
            f'{" ".join(f"{d:+.1f}" for d in diffs)} | {verdict} '
            f'(spread {spread:.2f}) |')
    return '\n'.join(lines) + '\n'


def write_docs(text: str, path: str = DOCS) -> None:
    """Replace the body of the benchmark's section in docs/benchmarks.md.

    Args:
        text: New section body.
        path: The Markdown file.
    """
    with open(path, encoding='utf-8') as file:
        doc = file.read()
    pattern = re.compile(rf'({re.escape(SECTION)}\n)(.*?)(?=\n## |\Z)', re.S)
    if not pattern.search(doc):
        raise SystemExit(f'{path}: no "{SECTION}" section to fill.')
    doc = pattern.sub(lambda m: m.group(1) + '\n' + text, doc, count=1)
    with open(path, 'w', encoding='utf-8') as file:
        file.write(doc)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/finetune_real')
    parser.add_argument('--source', help='Fashion-MNIST IDX folder '
                        '(default: the Debian package location)')
    parser.add_argument('--checkpoint',
                        default='checkpoints/efficientnet-lite0_in1k.pth',
                        help='converted EfficientNet-Lite0 (made if missing)')
    parser.add_argument('--runs', nargs='+', default=list(RUNS),
                        choices=list(RUNS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--epochs', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--train-per-class', type=int, default=50)
    parser.add_argument('--val-per-class', type=int, default=20)
    parser.add_argument('--test-per-class', type=int, default=60)
    parser.add_argument('--imbalance', type=float, default=10.0)
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs in parallel (1 thread each)')
    parser.add_argument('--rerun', action='store_true',
                        help='train again runs finished by an earlier call '
                        '(default: reuse their result.json)')
    parser.add_argument('--write-docs', action='store_true',
                        help='put the table into docs/benchmarks.md')
    return parser.parse_args(argv)


def main() -> None:
    """Export data, run every configuration and seed, report."""
    args = parse_args()
    root = osp.abspath(args.work_dir)
    if not osp.isfile(args.checkpoint) and any(RUNS[n][3] for n in args.runs):
        subprocess.run([sys.executable, CONVERT, args.checkpoint], check=True)
    tasks, results = [], []
    for seed in args.seeds:  # interleaved: every config once per seed
        for name in args.runs:
            work_dir = osp.join(root, 'runs', f'{name}_seed{seed}')
            done = osp.join(work_dir, RESULT)
            if osp.isfile(done) and not args.rerun:
                with open(done) as file:  # finished by an earlier call
                    results.append(json.load(file))
                continue
            data = export(root, seed, RUNS[name][2], args)
            tasks.append((name, seed,
                          build_config(name, data, work_dir, seed, args)))
    from rich.progress import Progress
    start = time.perf_counter()
    calls_path = osp.join(root, CALLS)
    calls = []
    if osp.isfile(calls_path):
        with open(calls_path) as file:
            calls = json.load(file)
    context = multiprocessing.get_context('spawn')
    with Progress() as progress, context.Pool(
            args.jobs, maxtasksperchild=1) as pool:
        bar = progress.add_task('runs', total=len(tasks))
        for result in pool.imap_unordered(run_one, tasks):
            results.append(result)
            progress.console.print(json.dumps(result))
            progress.advance(bar)
            with open(osp.join(root, 'results.json'), 'w') as file:
                json.dump(results, file, indent=1)
    if tasks:
        calls.append(dict(runs=len(tasks),
                          wall_s=round(time.perf_counter() - start, 1)))
        with open(calls_path, 'w') as file:
            json.dump(calls, file)
    text = markdown(results, args, calls)
    print(text)
    if args.write_docs:
        write_docs(text)
        print(f'written to {DOCS}')


if __name__ == '__main__':
    main()
