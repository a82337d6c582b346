"""Operator-level profile of the training-throughput benchmark's two loops
(``train_throughput.py --op-profile``): do they run the same work?

Each loop trains on the in-memory images in this process, one after the
other; ``torch.profiler`` records the timed iterations only (after
``--warmup``). The table gives each aten operator's self CPU milliseconds
per iteration and call count in both loops, and a line per loop says what
the first convolution received (shape, dtype, memory format, autocast,
grad mode), so a difference in work (memory format, precision, extra
copies) shows up as a row, not as a guess.
"""
import argparse
import tempfile
from pathlib import Path
from typing import Dict, Tuple

from throughput_timing import Window


class ProfiledWindow(Window):
    """A :class:`Window` that profiles exactly its timed iterations."""

    def __init__(self, warmup: int, iters: int, profiler) -> None:
        super().__init__(warmup, iters, cuda=False)
        self.profiler = profiler

    def tick(self) -> None:
        """Count one iteration; start or stop the profiler at the edges."""
        super().tick()
        if self.count == self.warmup:
            self.profiler.start()
        elif self.count == self.warmup + self.iters:
            self.profiler.stop()


def _first_conv_input(seen: Dict[str, str]):
    """A global forward pre-hook noting the first Conv2d input's format."""
    import torch

    def hook(module, inputs) -> None:
        if 'input' in seen or not isinstance(module, torch.nn.Conv2d):
            return
        x = inputs[0]
        layout = ('channels_last' if not x.is_contiguous() and
                  x.is_contiguous(memory_format=torch.channels_last) else
                  'NCHW' if x.is_contiguous() else 'strided')
        seen['input'] = (f'{tuple(x.shape)} {x.dtype} {layout}, autocast '
                         f'{torch.is_autocast_cpu_enabled()}, grad '
                         f'{torch.is_grad_enabled()}')
    return hook


def _profile_loop(loop: str, run_args, settings, work_dir: str
                  ) -> Tuple[Dict[str, Tuple[float, int]], str]:
    """Per-iteration self CPU ms and calls of each op in one loop."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from throughput_loops import run_plain
    from throughput_runner import run_runner
    profiler = profile(activities=[ProfilerActivity.CPU])
    window = ProfiledWindow(run_args.warmup, run_args.iters, profiler)
    seen: Dict[str, str] = {}
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        _first_conv_input(seen))
    try:
        if loop == 'plain':
            run_plain(run_args, settings, window, torch.device('cpu'))
        else:
            run_runner(run_args, settings, window, work_dir)
    finally:
        handle.remove()
    ops = {event.key: (event.self_cpu_time_total / 1000 / run_args.iters,
                       event.count // run_args.iters)
           for event in profiler.key_averages()}
    return ops, seen.get('input', 'no Conv2d ran')


def op_profile(args: argparse.Namespace, memory: Path, files: Path,
               rows: int = 15) -> str:
    """Operators of both loops side by side, per timed iteration.

    Args:
        args: Driver arguments (size, batch, warmup, iters, threads).
        memory: In-memory images file.
        files: Image folder root.
        rows: Operators shown (largest in either loop).

    Returns:
        Markdown: one line per loop, then the table.
    """
    import torch

    from plain_pytorch import Settings
    if args.threads:
        torch.set_num_threads(args.threads)
    run_args = argparse.Namespace(**{
        **vars(args), 'memory': str(memory), 'files': str(files),
        'data': 'memory', 'options': []})
    result, lines = {}, []
    for loop in ('plain', 'runner'):
        settings = Settings(args.config, args.batch_size, args.img_size)
        with tempfile.TemporaryDirectory() as work_dir:
            result[loop], first = _profile_loop(loop, run_args, settings,
                                                work_dir)
        total = sum(ms for ms, _ in result[loop].values())
        lines.append(f'- {loop}: {total:.0f} ms self CPU per iteration; '
                     f'first convolution input {first}')
    names = sorted(set(result['plain']) | set(result['runner']),
                   key=lambda name: -max(result[loop].get(name, (0, 0))[0]
                                         for loop in result))[:rows]
    lines += ['', '| op | plain: ms, calls | Runner: ms, calls |',
              '|---|---|---|']
    for name in names:
        cells = [f'{result[loop].get(name, (0, 0))[0]:.1f}, '
                 f'{result[loop].get(name, (0, 0))[1]}' for loop in result]
        lines.append(f'| `{name[:48]}` | {cells[0]} | {cells[1]} |')
    return '\n'.join(lines)
