"""Shared parts of the real-photo fine-tuning benchmark (finetune_real.py)."""
import argparse
import copy
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from statistics import mean, stdev
from typing import Dict, List

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EXPORT = osp.join(REPO, 'tools', 'dataset', 'export_fashion_mnist.py')
DOCS = osp.join(REPO, 'docs', 'benchmarks.md')
SECTION = '## Fine-tuning on real photos'


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


def macro_recall(csv_path: str) -> float:
    """Macro-averaged recall from an EvalReportHook CSV.

    Args:
        csv_path: ``per_class.csv``.

    Returns:
        Recall in percent.
    """
    with open(csv_path, encoding='utf-8') as file:
        return float(file.read().strip().splitlines()[-1].split(',')[3])


def export(root: str, seed: int, imbalanced: bool,
           args: argparse.Namespace) -> str:
    """Export one seed's images with the real export tool.

    Args:
        root: Benchmark work dir.
        seed: Data seed.
        imbalanced: Long-tailed training split.
        args: Benchmark arguments (per-class counts, imbalance, source).

    Returns:
        The dataset root.
    """
    name = f"{'imb' if imbalanced else 'bal'}_{seed}"
    if (args.train_per_class, args.val_per_class, args.test_per_class) != \
            (50, 20, 60):  # the first benchmark's folders keep their names
        name += (f'_n{args.train_per_class}_v{args.val_per_class}'
                 f'_t{args.test_per_class}')
    out = osp.join(root, 'data', name)
    if osp.isdir(osp.join(out, 'test' if args.test_per_class else 'val')):
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


def fixed_test_subset(full_root: str, out_root: str, per_class: int,
                      seed: int = 0) -> str:
    """A fixed stratified subset of an exported full test file.

    The same images for every run and seed: per class, ``per_class`` file
    indices drawn with ``numpy.random.default_rng(seed)`` from the sorted
    list of that class's images, copied to ``out_root/test/<class>/``.

    Args:
        full_root: An export holding the whole test file under ``test/``.
        out_root: Where to write the subset.
        per_class: Images per class.
        seed: Draw seed.

    Returns:
        ``out_root``.
    """
    if osp.isdir(osp.join(out_root, 'test')):
        return out_root
    tmp = out_root + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for folder in sorted(os.listdir(osp.join(full_root, 'test'))):
        names = sorted(os.listdir(osp.join(full_root, 'test', folder)),
                       key=lambda n: int(osp.splitext(n)[0]))
        chosen = sorted(rng.choice(len(names), per_class, replace=False))
        os.makedirs(osp.join(tmp, 'test', folder))
        for index in chosen:
            shutil.copy(osp.join(full_root, 'test', folder, names[index]),
                        osp.join(tmp, 'test', folder))
    os.replace(tmp, out_root)
    return out_root


def probe_cache(work_dir: str) -> str:
    """The feature cache shared by a setting's runs (``runs/probe_cache``).

    Args:
        work_dir: A run's work dir, ``WORK/runs/<setting>/<run>``.

    Returns:
        Absolute path.
    """
    return osp.join(osp.dirname(osp.dirname(osp.abspath(work_dir))),
                    'probe_cache')


def set_data(cfg, data_root: str, test_root: str, args) -> None:
    """Point the loaders at the exported images, at ``args.size`` px.

    Args:
        cfg: The run's config (changed in place).
        data_root: Dataset root of the train and val splits.
        test_root: Dataset root of the test split.
        args: Benchmark arguments (size, batch size, test images).
    """
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
        if split == 'test':
            loader_cfg.dataset.data_root = test_root
        cfg[f'{split}_dataloader'] = loader_cfg
    cfg.test_evaluator = cfg.val_evaluator
    if not args.test_per_class:  # pilot runs for tuning: no test data
        for key in ('test_dataloader', 'test_evaluator', 'test_cfg'):
            cfg.pop(key, None)


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
            if key not in ('name', 'seed') and isinstance(value, (int, float)):
                row.setdefault(key, []).append(value)
    return table


def mean_std(values: List[float]) -> str:
    """``mean ± sample std`` with two decimals.

    Args:
        values: Figures.

    Returns:
        Text.
    """
    spread = stdev(values) if len(values) > 1 else float('nan')
    return f'{mean(values):.2f} ± {spread:.2f}'


def report(text: str, write: bool, section: str = SECTION,
           path: str = DOCS) -> None:
    """Print a benchmark's Markdown and, if asked, put it in the docs.

    Args:
        text: The section body.
        write: Also write it (``--write-docs``).
        section: Its ``## `` heading (added at the end when missing).
        path: The Markdown file.
    """
    print(text)
    if write:
        write_docs(text, section, path)
        print(f'written to {path}')


def write_docs(text: str, section: str = SECTION, path: str = DOCS) -> None:
    """Replace the body of a section of docs/benchmarks.md (added at the
    end when missing).

    The section's ``### Earlier runs`` subsection, if any, stays.

    Args:
        text: New section body.
        section: Its ``## `` heading.
        path: The Markdown file.
    """
    with open(path, encoding='utf-8') as file:
        doc = file.read()
    if section not in doc:
        doc += f'\n{section}\n'

    # a '### Earlier runs' subsection (written by hand) is kept as it is
    pattern = re.compile(
        rf'({re.escape(section)}\n)(.*?)(?=\n### Earlier runs|\n## |\Z)',
        re.S)
    doc = pattern.sub(lambda m: m.group(1) + '\n' + text, doc, count=1)
    with open(path, 'w', encoding='utf-8') as file:
        file.write(doc)


def add_run_arguments(parser) -> None:
    """The options every Fashion-MNIST fine-tuning benchmark takes.

    Args:
        parser: The benchmark's argument parser.
    """
    # imported here: the report-only tools that use common stay light
    from fruit_ext.utils.cli import add_options
    add_options(parser, '--checkpoint', '--seeds', '--size', '--epochs',
                checkpoint=dict(
                    default='checkpoints/efficientnet-lite0_in1k.pth',
                    help='ImageNet EfficientNet-Lite0 (from tools/'
                    'model_converters/efficientnet_lite0.py)'))
