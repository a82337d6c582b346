#!/usr/bin/env python
"""Write a static HTML health report of a dataset folder.

    python tools/dataset/report.py data/my_split --out report/
    python tools/dataset/report.py data/my_split --out report/ \\
        --config configs/efficientnet-lite0_fruit.py    # + probe, label issues

One page (``OUT/index.html``) and the PNGs it shows, opened from disk: class
counts per split, sizes and aspect ratios, formats, EXIF rotations,
grey/alpha/16-bit counts, tiny, very dark and blurred images (thresholds
stated), broken files, near-duplicate groups (the same as
find_duplicates.py; --no-align for the fast variant on very large folders)
and train/val leakage, and with ``--config`` the linear-probe accuracy and
the label issues found by out-of-fold confident learning.
"""
import argparse
import os
import os.path as osp
import sys

from fruit_ext.datasets.duplicates import NearDupSettings
from fruit_ext.utils.cli import add_options, tool_parser

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'analysis'))


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument('root', help='dataset root: ROOT/{train,val[,test]}/'
                        '<class>/ or ROOT/<class>/')
    parser.add_argument('--out', default='report', help='output folder')
    add_options(parser, '--min-size', '--workers')
    NearDupSettings.add_options(parser)
    parser.add_argument('--config', help='also probe this model and find '
                        'label issues (data_root set to ROOT)')
    add_options(parser, '--checkpoint')
    parser.add_argument('--folds', type=int, default=5,
                        help='folds of the label-issue finder')
    add_options(parser, '--cfg-options')
    args = parser.parse_args()
    args.near = NearDupSettings.from_args(parser, args)
    return args


def probe_figures(args: argparse.Namespace) -> dict:
    """Linear-probe accuracy and label issues of the config on ROOT."""
    from find_label_issues import load_cfg, probe_fit_predict

    from fruit_ext.datasets.health.sheets import image_grid
    from fruit_ext.datasets.label_issues import (find_issues, issue_rows,
                                                 out_of_fold_probs)
    args.cfg_options = dict(args.cfg_options or {}, data_root=args.root)
    args.work_dir = osp.join(args.out, 'work')
    cfg = load_cfg(args)
    fit_predict, labels, paths, classes, figures = probe_fit_predict(cfg,
                                                                     args)
    probs = out_of_fold_probs(labels, fit_predict, args.folds)
    rows = issue_rows(paths, labels, probs, find_issues(labels, probs),
                      classes)
    grid = None
    if rows:
        grid = image_grid([r.path for r in rows[:24]],
                          [f'{r.given} → {r.suggested}' for r in rows[:24]],
                          osp.join(args.out, 'suspects.png'),
                          'suspected label issues: given → suggested')
    return dict(val_top1=figures['probe_val_top1'], rows=rows,
                images=len(labels), folds=args.folds, grid=grid)


def main() -> int:
    """Run the tool.

    Returns:
        0, or 2 when the dataset cannot be read.
    """
    args = parse_args()
    from fruit_ext.datasets.check import check_dataset
    from fruit_ext.datasets.health.report import write_report
    try:
        report = check_dataset(args.root, min_size=args.min_size,
                               workers=args.workers or os.cpu_count() or 1,
                               near=args.near, stats=True,
                               near_severity='warning')
    except (OSError, ValueError) as error:
        print(f'error: {error}')
        return 2
    probe = probe_figures(args) if args.config else None
    path = write_report(report, args.out, args.min_size, probe)
    print(f'Wrote {path} (open it in a browser; no server needed).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
