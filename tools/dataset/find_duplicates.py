#!/usr/bin/env python
"""Find near-duplicate images (and train/val leakage) in a dataset folder.

    python tools/dataset/find_duplicates.py data/my_split
    python tools/dataset/find_duplicates.py data/my_split \\
        --out dups.csv --sheets dup_sheets
    python tools/dataset/find_duplicates.py data/huge --no-align  # fast
    python tools/dataset/find_duplicates.py data/my_split \\
        --embed configs/efficientnet-lite0_fruit.py \\
        checkpoints/efficientnet-lite0_in1k.pth --min-cosine 0.97

Perceptual hashes (pHash + dHash of the picture and of 120 crops, 48 with
``--no-align`` or ``--crop-steps 3``; within ``--near-threshold`` bits; by
default pairs must also line up in fine detail with one picture placed
inside the other, ``--align``; with ``--confirm``, also agree on a 256-bit
pHash) catch exact, resized, re-compressed, brightened and slightly cropped
copies (defaults: threshold 6, align 0.96 after a sub-pixel refinement,
121 boxes; recall and precision 1.00 / 1.00 on held-out Fashion-MNIST
seeds 10-12, docs/data.md; check.py, split.py and report.py take the same
options and find the same groups);
``--embed`` adds pairs whose CNN embeddings (the config's test pipeline,
pre-logits features) have a cosine similarity of at least ``--min-cosine``.
Writes a CSV (one row per image in a group of 2+: group,path,split,class)
and a contact sheet PNG per group; exit 1 when a group spans splits or
carries different class labels.
"""
import argparse
import os
import os.path as osp
import sys
import time
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from fruit_ext.datasets.duplicates import (NearDupSettings, add_pairs,
                                           cosine_pairs, find_duplicates)
from fruit_ext.datasets.health.sheets import contact_sheets
from fruit_ext.utils.cli import tool_parser


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument(
        'root', help='dataset root: ROOT/{train,val[,test]}/<class>/ or '
        'ROOT/<class>/')
    parser.add_argument('--out', default=None,
                        help='CSV to write (none: ROOT/duplicates.csv)')
    parser.add_argument('--sheets', default=None,
                        help='contact sheet folder (none: next to the CSV, '
                        'duplicates_sheets/)')
    parser.add_argument('--max-sheets', type=int, default=20,
                        help='contact sheets for the first N groups')
    NearDupSettings.add_options(parser)
    parser.add_argument('--threshold', type=int, dest='near_threshold',
                        metavar='BITS', help='old name of --near-threshold')
    parser.add_argument('--embed', nargs=2, metavar=('CONFIG', 'CKPT'),
                        help='also match by CNN embeddings of this model')
    parser.add_argument('--min-cosine', type=float, default=0.97,
                        help='embedding similarity for --embed')
    parser.add_argument('--workers', type=int, default=None,
                        help='hashing processes (none: all CPUs)')
    args = parser.parse_args()
    args.near = NearDupSettings.from_args(parser, args)
    if not -1 <= args.min_cosine <= 1:
        parser.error(f'--min-cosine {args.min_cosine}: must be -1 to 1')
    return args


def embed_paths(config: str, checkpoint: str, paths, batch_size: int = 32):
    """Pre-logits features of images under the config's test pipeline.

    Args:
        config: Config file of the model.
        checkpoint: Its weights.
        paths: Image files.
        batch_size: Images per forward pass.

    Returns:
        (N, D) float32 numpy array.
    """
    import torch
    from mmengine.config import Config
    from mmengine.dataset import Compose, pseudo_collate

    from fruit_ext.engine.probe_config import build_model
    cfg = Config.fromfile(config)
    model = build_model(cfg, checkpoint)
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    dataset = loader['dataset']
    while 'pipeline' not in dataset:
        dataset = dataset['dataset']
    pipeline = Compose(dataset['pipeline'])
    feats = []
    with torch.no_grad():
        for start in range(0, len(paths), batch_size):
            batch = pseudo_collate([pipeline(dict(img_path=p))
                                    for p in paths[start:start + batch_size]])
            data = model.data_preprocessor(batch, False)
            feats.append(model.head.pre_logits(
                model.extract_feat(data['inputs'])).float())
    return torch.cat(feats).numpy()


def print_report(report, console: Console) -> None:
    """Summary table and the groups that break training or evaluation."""
    table = Table(title=f'Near-duplicates in {report.root}')
    for column in ('images', 'groups', 'images in groups', 'span splits',
                   'labels differ', 'unreadable'):
        table.add_column(column)
    table.add_row(str(len(report.items)), str(len(report.groups)),
                  str(sum(len(g) for g in report.groups)),
                  str(len(report.leaking)), str(len(report.mislabelled)),
                  str(len(report.unreadable)))
    console.print(table)
    for group in report.leaking + report.mislabelled:
        console.print(', '.join(f'{report.items[i].path}' for i in group),
                      soft_wrap=True, highlight=False)


def main() -> int:
    """Run the tool.

    Returns:
        The exit status.
    """
    args = parse_args()
    console = Console()
    start = time.perf_counter()
    try:
        report = find_duplicates(
            args.root, workers=args.workers or os.cpu_count() or 1,
            **asdict(args.near))
        if args.embed:
            feats = embed_paths(*args.embed, [osp.join(args.root, i.path)
                                              for i in report.items])
            add_pairs(report, cosine_pairs(feats, args.min_cosine)[0])
    except (OSError, ValueError) as error:
        console.print(f'[red]error:[/red] {error}')
        return 2
    out = args.out or osp.join(args.root, 'duplicates.csv')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    report.write_csv(out)
    sheets = contact_sheets(report, args.sheets or osp.join(
        osp.dirname(osp.abspath(out)), 'duplicates_sheets'), args.max_sheets)
    print_report(report, console)
    for path in report.unreadable:
        console.print(f'[yellow]not decodable, skipped:[/yellow] {path} '
                      '(tools/dataset/check.py says why)')
    console.print(f'Wrote {out} and {len(sheets)} contact sheet(s) in '
                  f'{time.perf_counter() - start:.1f} s.')
    bad = report.leaking or report.mislabelled
    if bad:
        console.print(f'[red]{len(report.leaking)} group(s) span splits, '
                      f'{len(report.mislabelled)} carry different labels[/red]'
                      ': keep one copy, or move a group into one split.')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
