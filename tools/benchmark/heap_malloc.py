#!/usr/bin/env python
"""Real ``tools/train.py`` runs on CPU with and without heap malloc.

Each run is one ``tools/train.py`` process (the allocator setting is
process-wide and permanent, so the two modes cannot share a process) on the
demo set: ``heap`` is what ``FruitRunner`` now does by default on CPU
(:mod:`fruit_ext.engine.heap_malloc`), ``glibc`` the same run with
``--cfg-options cpu_heap_malloc=False``. Everything else is the config's
default, including the CPU fast path where the CPU has native bf16. Modes
alternate run by run (the first mode swaps every repeat), so load from other
processes hits both alike. Per run: images/s from the median of mmengine's
per-iteration ``time`` after ``--skip`` iterations, the process's CPU time,
minor page faults and peak RSS (``wait4``: the largest of the training
process and its loader workers), and ``/proc/loadavg`` before and after.

Example (about 10 minutes on 2 busy cores; make the data first)::

    python tools/dataset/make_demo_fruit30.py --out \
        work_dirs/heap_malloc/demo --train-per-class 16 --val-per-class 1
    python tools/benchmark/heap_malloc.py --repeats 3
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from statistics import median
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: what a CPU without native bf16 trains: fp32 NCHW (the optimizer wrapper
#: spelled so the bf16 part of the fast path leaves it; the config's
#: ChannelsLastHook, third of custom_hooks, off) while heap malloc stays auto
FP32 = ('optim_wrapper.type=mmengine.OptimWrapper',
        'custom_hooks.2.enable=False')
#: name: (config, epochs, extra options); batch 32 in all
SETTINGS = {
    '224': ('configs/mobilenet-v2_fruit.py', 1, ()),
    '64': ('configs/mobilenet-v2_fruit_demo.py', 2, ()),
    '224-fp32': ('configs/mobilenet-v2_fruit.py', 1, FP32),
    '64-fp32': ('configs/mobilenet-v2_fruit_demo.py', 2, FP32),
}
MODES = ('heap', 'glibc')
HEAP_LINE = 'keeps freed memory in the heap'
BF16_LINE = 'training uses bfloat16 autocast'


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--data', default='work_dirs/heap_malloc/demo',
                        help='a fruit30-layout folder (480 train images: 15 '
                        'full batches of 32 per epoch)')
    parser.add_argument('--work-dir', default='work_dirs/heap_malloc/runs',
                        help='one work dir per training run under it')
    parser.add_argument('--settings', nargs='+', default=['224', '64'],
                        choices=list(SETTINGS),
                        help='image sizes; -fp32: without the bf16 part')
    parser.add_argument('--repeats', type=int, default=3,
                        help='runs per setting and allocator, alternating')
    parser.add_argument('--skip', type=int, default=3,
                        help='first iterations of a run left out (warm-up)')
    parser.add_argument('--out', help='write the runs as JSON here too')
    parser.add_argument('--report', help='only print the table of the runs '
                        'saved with --out')
    return parser.parse_args()


def _loadavg() -> float:
    with open('/proc/loadavg', encoding='utf-8') as file:
        return float(file.read().split()[0])


def train_once(setting: str, mode: str, work_dir: str,
               args: argparse.Namespace) -> Dict:
    """One ``tools/train.py`` process; returns its figures."""
    config, epochs, extra = SETTINGS[setting]
    options = [f'data_root={osp.abspath(args.data)}', 'load_from=None',
               f'train_cfg.max_epochs={epochs}',
               'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=1000',
               'default_hooks.checkpoint.save_last=False',
               'default_hooks.checkpoint.save_best=None',
               f'cpu_heap_malloc={mode == "heap"}', *extra]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('MALLOC_') and k != 'LD_PRELOAD'}
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'),
           osp.join(REPO, config), '--work-dir', work_dir, '--no-validate',
           '--cfg-options', *options]
    load = _loadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f'{" ".join(cmd)} failed:\n{output[-4000:]}')
    scalars = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                        'scalars.json')))[-1]
    with open(scalars, encoding='utf-8') as file:
        times = [json.loads(line)['time'] for line in file
                 if '"time"' in line]
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    with open(logs[-1], encoding='utf-8') as file:
        log = file.read()
    heap_logged = HEAP_LINE in log
    if heap_logged != (mode == 'heap') or \
            (BF16_LINE in log) == ('fp32' in setting):
        raise SystemExit(f'{logs[-1]}: the log does not say what the '
                         f'{setting}/{mode} run should be')
    timed = times[args.skip:]
    return dict(setting=setting, mode=mode, iters=len(timed),
                images_s=32 / median(timed), s_iter=median(timed),
                wall_s=time.perf_counter() - start,
                cpu_s=usage.ru_utime + usage.ru_stime,
                minflt=usage.ru_minflt, peak_rss_mib=usage.ru_maxrss / 1024,
                load=(load, _loadavg()))


def _paired(runs: List[Dict], setting: str) -> str:
    """heap / glibc images/s per repeat (consecutive runs): median, range."""
    sel = [r for r in runs if r['setting'] == setting]
    ratios = sorted(
        [r['images_s'] for r in pair if r['mode'] == 'heap'][0] /
        [r['images_s'] for r in pair if r['mode'] == 'glibc'][0]
        for pair in zip(sel[::2], sel[1::2]))
    return f'{median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})'


def table(runs: List[Dict]) -> str:
    """Markdown table: medians per setting and mode."""
    rows = ['| setting | malloc | images/s (median, range) | s/iter '
            '| CPU s/run | minor faults/run | peak RSS MiB | runs | load '
            '| heap / glibc images/s (paired median, range) |',
            '|---|---|---|---|---|---|---|---|---|---|']
    for setting in dict.fromkeys(r['setting'] for r in runs):
        precision = 'fp32' if 'fp32' in setting else 'CPU fast path'
        for mode in MODES:
            sel = [r for r in runs if (r['setting'], r['mode']) ==
                   (setting, mode)]
            loads = [x for r in sel for x in r['load']]
            rows.append(
                f"| {setting.split('-')[0]} px, batch 32, {precision} | "
                f'{mode} | '
                f"{median(r['images_s'] for r in sel):.1f} "
                f"({min(r['images_s'] for r in sel):.1f}-"
                f"{max(r['images_s'] for r in sel):.1f}) | "
                f"{median(r['s_iter'] for r in sel):.3f} | "
                f"{median(r['cpu_s'] for r in sel):.0f} | "
                f"{median(r['minflt'] for r in sel):,.0f} | "
                f"{median(r['peak_rss_mib'] for r in sel):.0f} | "
                f'{len(sel)} | {min(loads):.1f}-{max(loads):.1f} | '
                f"{_paired(runs, setting) if mode == 'heap' else ''} |")
    return '\n'.join(rows)


def main() -> None:
    """Run the settings' modes interleaved and print the table."""
    args = parse_args()
    if args.report:
        with open(args.report, encoding='utf-8') as file:
            print(table(json.load(file)))
        return
    if not osp.isdir(osp.join(args.data, 'train')):
        raise SystemExit(f'{args.data}/train is missing: make it with '
                         'tools/dataset/make_demo_fruit30.py (see --help)')
    runs = []
    for repeat in range(args.repeats):
        for setting in args.settings:
            modes = MODES if repeat % 2 == 0 else MODES[::-1]
            for mode in modes:
                work_dir = osp.abspath(osp.join(
                    args.work_dir, f'{setting}_{mode}_{repeat}'))
                run = train_once(setting, mode, work_dir, args)
                runs.append(run)
                print('RUN', json.dumps(run), flush=True)
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as file:
            json.dump(runs, file, indent=1)
    print(table(runs))


if __name__ == '__main__':
    main()
