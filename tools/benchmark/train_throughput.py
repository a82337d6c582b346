#!/usr/bin/env python
"""Training images/s: the course's hand-written loop vs mmengine's Runner.

Both paths train the network of ``configs/mobilenet-v2_fruit.py`` with its
batch size, optimizer and schedule (see ``plain_pytorch.py``), on

* ``memory``: the same decoded images held in memory (no decoding, no
  augmentation; each path still runs its own per-sample packing --
  ``ToTensor``+``Normalize`` vs ``PackInputs`` -- and the Runner its
  ``data_preprocessor``), which isolates the loop's own overhead;
* ``files``: real JPEG files read by each path's own pipeline (torchvision
  ``ImageFolder`` + the course's transforms vs the config's mmpretrain
  pipeline), with the same number of loader workers.

Cases (``--cases``):

* ``alternating/*``: both loops in one process, in two threads that take
  turns iteration by iteration, so load from other processes hits both
  alike; the headline comparison (``-runner-first``: the Runner takes the
  first turn; every alternating result also counts each loop's minor page
  faults per iteration);
* ``plain/*``, ``runner/*``: one loop per process (own peak memory);
  ``runner/memory+<options>`` turns on the config's speed options: mixed
  precision (``--amp``: bfloat16 on CPU, float16 on CUDA),
  ``ChannelsLastHook``, ``compile``;
* ``*/files-data-only``: the data pipeline alone, no model.

The Runner gets the config exactly as ``tools/train.py --no-validate`` builds
it (mmpretrain's own ``merge_args``) and is the class it picks
(``FruitRunner``); ``cpu_fast_path`` is off, so a case's options say what is
on (``--runner-cfg`` merges what a config may tune). A measurement skips
``--warmup`` iterations and times the next ``--iters``, from the end of one
optimizer step to the end of another, with every hook (logging included) inside the
window. Measurements run in fresh processes, cases are interleaved within
each repeat, and medians over repeats are reported. ``--profile`` breaks one
run of each loop down by component instead; ``--op-profile`` lists the aten
operators of both loops per iteration (the same work?).

Pieces: ``throughput_data.py`` (images), ``throughput_timing.py`` (timers),
``throughput_loops.py`` (one measurement), ``throughput_runner.py`` (the
Runner side), ``throughput_report.py`` (profile, tables, docs),
``throughput_ops.py`` (operator profile).

Example (about 40 minutes on 2 busy CPU cores)::

    python tools/benchmark/train_throughput.py --threads 1 --workers 0
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from throughput_data import decode_to_memory, make_photo_tree
from throughput_report import (DOCS, SECTION, machine, profile, summarize,
                               table, write_docs)

HERE = Path(__file__).resolve().parent
#: glibc malloc serves every block from its heap and never gives freed memory
#: back: by default each tensor over 32 MiB is a fresh mmap, and at 224 px,
#: batch 32, the kernel's page faults (~500k per iteration) took about 40 %
#: of a training iteration's CPU time, more in the Runner's turns than in
#: the plain loop's (docs/benchmarks.md, Runner vs the hand-written loop)
HEAP_MALLOC = {'MALLOC_MMAP_MAX_': '0',
               'MALLOC_TRIM_THRESHOLD_': str(64 * 2**30),
               'MALLOC_TOP_PAD_': str(2**30)}
REPO = HERE.parents[1]
#: name: (loop, data, Runner options)
CASES: Dict[str, tuple] = {
    'plain/memory': ('plain', 'memory', ()),
    'runner/memory': ('runner', 'memory', ()),
    'plain/files': ('plain', 'files', ()),
    'runner/files': ('runner', 'files', ()),
    'runner/memory+amp': ('runner', 'memory', ('amp', )),
    'runner/memory+channels_last': ('runner', 'memory', ('channels_last', )),
    'runner/memory+amp+channels_last': ('runner', 'memory',
                                        ('amp', 'channels_last')),
    'runner/memory+amp+channels_last+compile': (
        'runner', 'memory', ('amp', 'channels_last', 'compile')),
    # both loops in one process, alternating iteration by iteration
    'alternating/memory': ('both', 'memory', ()),
    'alternating/files': ('both', 'files', ()),
    # the same with the Runner taking the first turn (an order effect?)
    'alternating/memory-runner-first': ('both', 'memory', ('runner_first',)),
    # the data pipeline alone (no model): each loop's loader over the files
    'plain/files-data-only': ('plain', 'files', ('data_only', )),
    'runner/files-data-only': ('runner', 'files', ('data_only', )),
}


def run_case(name: str, args: argparse.Namespace, memory: Path,
             files: Path) -> dict:
    """Measure one case in a fresh process.

    Args:
        name: Key of :data:`CASES`.
        args: Driver arguments.
        memory: In-memory images file.
        files: Image folder root.

    Returns:
        The measurement.
    """
    loop, data, options = CASES[name]
    cmd = [sys.executable, __file__, '--run', '--loop', loop, '--data', data,
           '--config', args.config, '--img-size', str(args.img_size),
           '--batch-size', str(args.batch_size), '--iters', str(args.iters),
           '--warmup', str(args.warmup), '--workers', str(args.workers),
           '--memory', str(memory), '--files', str(files)]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if options:
        cmd += ['--options', *options]
    if args.runner_cfg:
        cmd += ['--runner-cfg', json.dumps(args.runner_cfg)]
    # One malloc arena for all threads: with glibc's default, the loops of
    # an `alternating` case would allocate from different arenas, and that
    # alone moved their speeds apart by 5-20 % at 224 px, either way.
    env = dict(os.environ, MALLOC_ARENA_MAX='1')
    if args.malloc == 'heap':
        env.update(HEAP_MALLOC)
    # its own process group: on timeout the loader workers go with it (a
    # killed parent alone leaves them holding the output pipe open)
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env,
                               stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    signal.signal(signal.SIGTERM, lambda *_: (
        os.killpg(process.pid, signal.SIGKILL),
        sys.exit(f'{name}: stopped (SIGTERM)')))
    start = time.perf_counter()
    try:
        output, _ = process.communicate(timeout=args.case_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output = process.communicate()[0]
        raise SystemExit(f'{name} ran past --case-timeout '
                         f'{args.case_timeout} s:\n{output[-4000:]}')
    lines = [line for line in output.splitlines()
             if line.startswith('RESULT ')]
    if process.returncode != 0 or not lines:
        raise SystemExit(f'{name} failed:\n{output[-4000:]}')
    return dict(json.loads(lines[-1][len('RESULT '):]),
                process_s=time.perf_counter() - start)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--config',
                        default=str(REPO / 'configs' /
                                    'mobilenet-v2_fruit.py'),
                        help='config whose model and optimizer are timed')
    parser.add_argument('--img-size', type=int, default=224,
                        help='input side in pixels')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='images per batch')
    parser.add_argument('--iters', type=int, default=5,
                        help='timed iterations per measurement')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed iterations before each measurement')
    parser.add_argument('--repeats', type=int, default=5,
                        help='measurements per case; medians are reported')
    parser.add_argument('--workers', type=int, default=2,
                        help='loader workers for the files case, both loops')
    parser.add_argument('--threads', type=int,
                        help="torch threads per measurement (none: torch's); "
                        '1 avoids OpenMP stalls on a busy host')
    parser.add_argument('--cases', nargs='+', default=[
        'alternating/memory', 'alternating/files', 'runner/memory',
        'runner/memory+amp', 'runner/memory+channels_last',
        'runner/memory+amp+channels_last'], choices=list(CASES),
        help='cases to run, in this order')
    parser.add_argument('--data-root',
                        help='folder with train/<class>/*.jpg (none: cut '
                        'from the opencv-doc photos, else from photos '
                        'shipped by matplotlib and scikit-learn)')
    parser.add_argument('--profile', action='store_true',
                        help='instead of timing, break one run of each loop '
                        'down by component with cProfile')
    parser.add_argument('--malloc', choices=['heap', 'system'],
                        default='heap',
                        help="measurements' glibc malloc: 'heap' keeps freed "
                        "memory (no page faults per iteration, HEAP_MALLOC)"
                        ", 'system' is glibc's default (mmap per large "
                        'tensor)')
    parser.add_argument('--op-profile', action='store_true',
                        help='instead of timing, list the aten operators '
                        'of both loops per timed iteration (torch.profiler)'
                        ' and what the first convolution receives')
    parser.add_argument('--max-photos-per-class', type=int, default=40,
                        help='cap on generated files (data-only cases cycle '
                        'through them; training cases need enough for one '
                        'epoch of warmup + iters batches)')
    parser.add_argument('--runner-cfg', type=json.loads,
                        help='JSON merged into the Runner\'s config (what a '
                        'config may tune), e.g. \'{"default_hooks": '
                        '{"logger": {"interval": 50}}}\'')
    parser.add_argument('--profile-dump',
                        help='with --profile: also write the cProfile stats '
                        'to PREFIX.plain and PREFIX.runner')
    parser.add_argument('--json', help='write the raw results here (after '
                        'every measurement, so a cut-off run keeps them)')
    parser.add_argument('--case-timeout', type=float, metavar='SECONDS',
                        help='stop the run when one measurement (a fresh '
                        'process, its start included) takes longer')
    parser.add_argument('--title', default='CPU',
                        help='sub-heading for --write-docs')
    parser.add_argument('--write-docs', action='store_true',
                        help=f'put the table in {DOCS.name} ({SECTION})')
    # one measurement (internal)
    parser.add_argument('--run', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--loop', choices=['plain', 'runner', 'both'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--data', choices=['memory', 'files'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--options', nargs='*', default=[],
                        help=argparse.SUPPRESS)
    parser.add_argument('--memory', help=argparse.SUPPRESS)
    parser.add_argument('--files', help=argparse.SUPPRESS)
    return checked(parser, parser.parse_args())


def checked(parser: argparse.ArgumentParser,
            args: argparse.Namespace) -> argparse.Namespace:
    """Refuse settings that would time something else than training."""
    if args.warmup < 2 and any('compile' in CASES[name][2]
                               for name in args.cases):
        # torch.compile compiles train_step again at the 2nd iteration (the
        # optimizer's state and mmengine's inner count change after the
        # 1st): with one warm-up that compilation would be timed
        parser.error('the compile cases need --warmup 2 or more')
    return args


def main() -> None:
    args = parse_args()
    if args.run:
        from throughput_loops import measure
        result = measure(args)
        print('RESULT ' + json.dumps(result), flush=True)
        return
    import fruit_ext  # noqa: F401
    from plain_pytorch import Settings
    num_classes = Settings(args.config).cfg.model.head.num_classes
    count = args.batch_size * (args.warmup + args.iters)
    load_before = ' '.join(f'{x:.1f}' for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(args.data_root) if args.data_root else make_photo_tree(
            Path(tmp) / 'photos', num_classes,
            min(-(-count // num_classes), args.max_photos_per_class))
        memory = decode_to_memory(files, Path(tmp) / 'memory.pt', count,
                                  args.img_size, num_classes)
        if args.profile:
            print(profile(args, memory, files))
            return
        if args.op_profile:
            from throughput_ops import op_profile
            print(op_profile(args, memory, files))
            return
        results: Dict[str, List[dict]] = {name: [] for name in args.cases}
        for repeat in range(args.repeats):
            # rotate the order so no case always runs first or last
            order = args.cases[repeat % len(args.cases):] + \
                args.cases[:repeat % len(args.cases)]
            for name in order:
                result = run_case(name, args, memory, files)
                results[name].append(result)
                plain = (f" (plain {result['plain_images_per_s']:.2f}; "
                         'page faults/iter plain '
                         f"{result['plain_page_faults_per_iter']:.0f}, "
                         f"Runner {result['runner_page_faults_per_iter']:.0f})"
                         if 'plain_images_per_s' in result else '')
                print(f'[{repeat + 1}/{args.repeats}] {name}: '
                      f"{result['images_per_s']:.2f} images/s{plain}, "
                      f"{result['cpu_ms_per_iter']:.0f} CPU ms/iter, peak "
                      f"{result['peak_mib']:.0f} MiB, process "
                      f"{result['process_s']:.0f} s", flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(
                        dict(args=vars(args), results=results), indent=1))
    load = f"{load_before} -> {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    summary = summarize(results)
    import torch
    text = table(summary, args, machine(args.threads), load,
                 torch.cuda.is_available())
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(
            dict(args=vars(args), results=results, summary=summary),
            indent=1))
    if args.write_docs:
        write_docs(args.title, text)


if __name__ == '__main__':
    main()
