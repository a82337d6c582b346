"""Reports of the training-throughput benchmark: the per-component
profile, the summary table and docs/benchmarks.md."""
import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

DOCS = Path(__file__).resolve().parents[2] / 'docs' / 'benchmarks.md'
SECTION = '## Training throughput'

#: component: (file suffix, function) whose cumulative time is reported
COMPONENTS = {
    'data loading (dataset, collate)': ('dataloader.py', '_next_data'),
    'data_preprocessor': ('data_preprocessor.py', 'forward'),
    'forward + loss': ('base_model.py', '_run_forward'),
    'backward': ('_tensor.py', 'backward'),
    'optimizer step': ('optimizer.py', 'wrapper'),
    'zero_grad': ('optimizer.py', 'zero_grad'),
}
#: per-iteration hook methods (one-off hooks such as checkpoint saving at the
#: end of the epoch are left out)
ITER_HOOKS = ('before_train_iter', 'after_train_iter')
HOOKS_ROW = 'hooks per iteration (logger, timer, schedulers, ...)'


def profile(args: argparse.Namespace, memory: Path, files: Path) -> str:
    """Per-iteration cost of each part of both loops, from cProfile.

    Both loops run in this process on the in-memory images; the plain
    loop's forward is its ``model(images)`` call plus the loss.

    Args:
        args: Driver arguments.
        memory: In-memory images file.
        files: Image folder root.

    Returns:
        A Markdown table of milliseconds per iteration.
    """
    import cProfile
    import pstats

    import torch

    from plain_pytorch import Settings
    from throughput_loops import run_plain
    from throughput_runner import run_runner
    from throughput_timing import Window
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    run_args = argparse.Namespace(**{
        **vars(args), 'memory': str(memory), 'files': str(files),
        'data': 'memory', 'options': []})
    columns = {}
    for loop in ('plain', 'runner'):
        settings = Settings(args.config, args.batch_size, args.img_size)
        window = Window(args.warmup, args.iters, device.type == 'cuda')
        profiler = cProfile.Profile()
        with tempfile.TemporaryDirectory() as work_dir:
            profiler.enable()
            if loop == 'plain':
                run_plain(run_args, settings, window, device)
            else:
                run_runner(run_args, settings, window, work_dir)
            profiler.disable()
        stats = pstats.Stats(profiler).stats
        if getattr(args, 'profile_dump', None):  # for pstats / snakeviz
            profiler.dump_stats(f'{args.profile_dump}.{loop}')
        iterations = window.count
        column = {}
        for name, (suffix, function) in COMPONENTS.items():
            total = sum(
                cumulative for (path, _, func), (_, _, _, cumulative, _)
                in stats.items() if path.endswith(suffix) and func == function)
            column[name] = 1000 * total / iterations
        column[HOOKS_ROW] = 1000 * sum(
            cumulative for (path, _, func), (_, _, _, cumulative, _)
            in stats.items() if func in ITER_HOOKS and
            not path.endswith('throughput_runner.py')) / iterations
        if loop == 'plain':  # model(images) + criterion, called directly
            column['forward + loss'] = 1000 * sum(
                cumulative for (path, _, func), (_, calls, _, cumulative, _)
                in stats.items() if path.endswith('plain_pytorch.py')
                and func == 'train_one_epoch') / iterations - sum(
                    column.values())
        column['images/s (profiled)'] = window.images_per_s(args.batch_size)
        columns[loop] = column
    lines = ['| per iteration, ms | plain loop | Runner |', '|---|---|---|']
    for name in list(COMPONENTS) + [HOOKS_ROW, 'images/s (profiled)']:
        lines.append(f"| {name} | {columns['plain'][name]:.2f} | "
                     f"{columns['runner'][name]:.2f} |")
    return '\n'.join(lines)



def machine(threads: Optional[int]) -> str:
    """One line describing the host.

    Args:
        threads: torch threads per measurement (None: torch's default).

    Returns:
        CPU, cores, torch version, threads and GPU.
    """
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    text = (f'{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, '
            f'{threads or torch.get_num_threads()} torch threads')
    if torch.cuda.is_available():
        text += f', {torch.cuda.get_device_name()}'
    return text


def summarize(results: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Median images/s and peak memory per case, and Runner/plain ratios.

    Args:
        results: Measurements per case.

    Returns:
        Per-case summary.
    """
    def entry(rates: List[float], cpu: List[float], peak: List[float]):
        return dict(median=statistics.median(rates), min=min(rates),
                    max=max(rates), cpu_ms=statistics.median(cpu),
                    peak_mib=statistics.median(peak), runs=len(rates))

    summary = {}
    for name, runs in results.items():
        if name.startswith('alternating/'):
            for loop in ('plain', 'runner'):
                summary[f'{name} ({loop})'] = entry(
                    [r[f'{loop}_images_per_s'] for r in runs],
                    [r[f'{loop}_cpu_ms_per_iter'] for r in runs],
                    [0.0] * len(runs))
            runner = summary[f'{name} (runner)']
            runner['vs_plain'] = (runner['median'] /
                                  summary[f'{name} (plain)']['median'])
            runner['vs_plain_paired'] = statistics.median(
                r['runner_vs_plain'] for r in runs)
            continue
        summary[name] = entry([r['images_per_s'] for r in runs],
                              [r['cpu_ms_per_iter'] for r in runs],
                              [r['peak_mib'] for r in runs])
    for runner in results:
        plain = 'plain/' + runner.split('/', 1)[1]
        if runner.startswith('runner/') and plain in results:
            paired = [r['images_per_s'] / p['images_per_s']
                      for p, r in zip(results[plain], results[runner])]
            summary[runner]['vs_plain'] = (summary[runner]['median'] /
                                           summary[plain]['median'])
            summary[runner]['vs_plain_paired'] = statistics.median(paired)
    base = summary.get('runner/memory',
                       summary.get('alternating/memory (runner)'))
    for name, entry in summary.items():
        if base and name.startswith('runner/memory+'):
            entry['vs_runner'] = entry['median'] / base['median']
    return summary


def table(summary: Dict[str, dict], args: argparse.Namespace,
          host: str, load: str, on_gpu: bool) -> str:
    """Markdown table of a summary.

    Args:
        summary: Output of :func:`summarize`.
        args: Driver arguments.
        host: Output of :func:`machine`.
        load: Load averages before and after.
        on_gpu: Whether the measurements ran on a GPU.

    Returns:
        Markdown text.
    """
    memory_kind = 'GPU max allocated' if on_gpu else 'peak RSS'
    lines = [
        f'{host}; {args.img_size} px, batch {args.batch_size}, '
        f'{args.iters} timed iterations after {args.warmup} warm-up, '
        f'median of {args.repeats} interleaved repeats; files: '
        f'{args.workers} loader workers; load average {load}.', '',
        f'| case | images/s (median) | min-max | vs plain | vs Runner fp32 '
        f'| CPU ms/iter | {memory_kind} MiB |', '|---|---|---|---|---|---|---|'
    ]
    for name, entry in summary.items():
        vs_plain = (f"{entry['vs_plain']:.1%} (paired "
                    f"{entry['vs_plain_paired']:.1%})"
                    if 'vs_plain' in entry else '')
        vs_runner = f"{entry['vs_runner']:.2f}x" if 'vs_runner' in entry \
            else ''
        lines.append(
            f"| {name} | {entry['median']:.1f} | {entry['min']:.1f}-"
            f"{entry['max']:.1f} | {vs_plain} | {vs_runner} | "
            f"{entry['cpu_ms']:.0f} | "
            f"{entry['peak_mib']:.0f} |".replace('| 0 |', '| (shared) |'))
    return '\n'.join(lines)



def write_docs(title: str, text: str) -> None:
    """Put ``text`` under ``### title`` in the Training throughput section.

    Args:
        title: Sub-heading (replaced if present).
        text: Markdown body.
    """
    doc = DOCS.read_text()
    start = doc.index(SECTION) + len(SECTION)
    end = doc.find('\n## ', start)
    end = len(doc) if end < 0 else end
    body = doc[start:end]
    block = f'\n### {title}\n\n{text}\n'
    heading = f'\n### {title}\n'
    if heading in body:
        b_start = body.index(heading)
        b_end = body.find('\n### ', b_start + len(heading))
        b_end = len(body) if b_end < 0 else b_end
        body = body[:b_start] + block + body[b_end:]
    else:
        body = body.rstrip('\n') + '\n' + block
    DOCS.write_text(doc[:start] + body.rstrip('\n') + '\n' + doc[end:])

