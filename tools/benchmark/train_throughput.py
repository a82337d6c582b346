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
  alike; the headline comparison;
* ``plain/*``, ``runner/*``: one loop per process (own peak memory);
  ``runner/memory+<options>`` turns on the config's speed options: mixed
  precision (``--amp``: bfloat16 on CPU, float16 on CUDA),
  ``ChannelsLastHook``, ``compile``;
* ``*/files-data-only``: the data pipeline alone, no model.

The Runner gets the config exactly as ``tools/train.py --no-validate`` builds
it (mmpretrain's own ``merge_args``). A measurement skips ``--warmup``
iterations and times the next ``--iters``, from the end of one optimizer
step to the end of another, with every hook (logging included) inside the
window. Measurements run in fresh processes, cases are interleaved within
each repeat, and medians over repeats are reported. ``--profile`` breaks one
run of each loop down by component instead.

Example (about 40 minutes on 2 busy CPU cores)::

    python tools/benchmark/train_throughput.py --threads 1 --workers 0
"""
import argparse
import json
import os
import platform
import random
import resource
import runpy
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOCS = REPO / 'docs' / 'benchmarks.md'
SECTION = '## Training throughput'
PHOTOS = Path('/usr/share/doc/opencv-doc/examples/data')
PHOTO_NAMES = ('apple.jpg', 'orange.jpg', 'fruits.jpg', 'baboon.jpg',
               'butterfly.jpg', 'messi5.jpg', 'squirrel_cls.jpg', 'home.jpg',
               'building.jpg', 'aloeL.jpg', 'leuvenA.jpg', 'left.jpg',
               'aero1.jpg', 'starry_night.jpg')
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
    # the data pipeline alone (no model): each loop's loader over the files
    'plain/files-data-only': ('plain', 'files', ('data_only', )),
    'runner/files-data-only': ('runner', 'files', ('data_only', )),
}


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def wheel_photos() -> List[Path]:
    """Real photos shipped inside installed wheels (no Debian package):
    matplotlib's grace_hopper.jpg, scikit-learn's china.jpg and flower.jpg.

    Returns:
        The files found.
    """
    import importlib.util
    found = []
    for package, folder, names in (
            ('matplotlib', 'mpl-data/sample_data', ('grace_hopper.jpg', )),
            ('sklearn', 'datasets/images', ('china.jpg', 'flower.jpg'))):
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec \
                else []:
            found += [Path(location) / folder / name for name in names
                      if (Path(location) / folder / name).is_file()]
    return found


def make_photo_tree(root: Path, classes: int, per_class: int,
                    size: tuple = (800, 600), seed: int = 0) -> Path:
    """JPEG files in fruit30 layout cut from real photos (opencv-doc's, or
    those of installed wheels when it is absent).

    Args:
        root: Output root; ``root/train/<class>/*.jpg`` is written.
        classes: Number of classes (the fruit30 names are used).
        per_class: Images per class.
        size: Width and height of every image.
        seed: Crop seed.

    Returns:
        ``root``.
    """
    from PIL import Image

    from fruit_ext.datasets import FRUIT30_CLASSES

    sources = [PHOTOS / name for name in PHOTO_NAMES
               if (PHOTOS / name).is_file()] or wheel_photos()
    if not sources:
        raise SystemExit(f'No photos under {PHOTOS} nor in the matplotlib '
                         'and scikit-learn wheels: install Debian '
                         '`opencv-doc` or pass --data-root with a folder '
                         'DATA_ROOT/train/<class>/*.jpg.')
    print(f'photos: {", ".join(path.name for path in sources)}')
    rng = random.Random(seed)
    photos = [Image.open(path).convert('RGB') for path in sources]
    for index in range(classes):
        folder = root / 'train' / FRUIT30_CLASSES[index % 30]
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            photo = photos[(index * per_class + i) % len(photos)]
            width, height = photo.size
            crop_w = int(width * rng.uniform(0.6, 1.0))
            crop_h = min(height, int(crop_w * 3 / 4))
            left = rng.randint(0, width - crop_w)
            top = rng.randint(0, height - crop_h)
            photo.crop((left, top, left + crop_w, top + crop_h)).resize(
                size, Image.BILINEAR).save(folder / f'{i}.jpg', quality=90)
    return root


def decode_to_memory(root: Path, out: Path, count: int, img_size: int,
                     num_classes: int) -> Path:
    """Decode ``count`` images once, resized to ``img_size``, into a file.

    Args:
        root: Folder with ``train/<class>/*.jpg``.
        out: ``.pt`` file to write (uint8 RGB ``N x H x W x 3`` + labels).
        count: Number of images.
        img_size: Square side.
        num_classes: Labels are drawn modulo this.

    Returns:
        ``out``.
    """
    import torch
    from PIL import Image

    files = sorted((root / 'train').rglob('*.jpg'))[:count]
    decoded = [
        np.asarray(Image.open(path).convert('RGB').resize(
            (img_size, img_size), Image.BILINEAR)) for path in files
    ]
    images = np.stack([decoded[i % len(decoded)] for i in range(count)])
    labels = torch.arange(count) % num_classes
    torch.save({'images': torch.from_numpy(images), 'labels': labels}, out)
    return out


# --------------------------------------------------------------------------
# One measurement (runs in its own process)
# --------------------------------------------------------------------------
class Window:
    """Timestamps of a timed window of iterations.

    Args:
        warmup: Iterations before the window.
        iters: Iterations inside it.
        cuda: Synchronise CUDA at the window's ends.
    """

    def __init__(self, warmup: int, iters: int, cuda: bool) -> None:
        self.warmup, self.iters, self.cuda = warmup, iters, cuda
        self.count = 0
        self.start: Optional[float] = None
        self.end: Optional[float] = None
        self.cpu_start = self.cpu_end = 0.0

    def begin(self) -> None:
        """Call before the first iteration (nothing to do here)."""

    def tick(self) -> None:
        """Call once after every optimizer step."""
        self.count += 1
        if self.count in (self.warmup, self.warmup + self.iters):
            if self.cuda:
                import torch
                torch.cuda.synchronize()
            if self.count == self.warmup:
                self.start = time.perf_counter()
                self.cpu_start = time.process_time()
            else:
                self.end = time.perf_counter()
                self.cpu_end = time.process_time()

    def images_per_s(self, batch_size: int) -> float:
        """Throughput inside the window.

        Args:
            batch_size: Images per iteration.

        Returns:
            Images per second.
        """
        if self.start is None or self.end is None:
            raise RuntimeError(f'only {self.count} iterations ran; the data '
                               'is too small for warmup + iters')
        return self.iters * batch_size / (self.end - self.start)

    def cpu_ms_per_iter(self) -> float:
        """CPU time of this process (all its threads) per iteration, in ms;
        less sensitive to other processes than wall time."""
        return 1000 * (self.cpu_end - self.cpu_start) / self.iters


class Turns:
    """Alternate the two loops in one process, one iteration each.

    Each loop runs in its own thread; a loop's turn is one iteration (data,
    step and, for the Runner, every hook), after which it hands over and
    waits. Load changes on the machine thus hit both loops alike, within a
    fraction of a second.

    Args:
        total: Iterations per loop (warm-up included).
        cuda: Synchronise CUDA at the end of every turn.
    """

    def __init__(self, total: int, cuda: bool) -> None:
        self.total, self.cuda = total, cuda
        self.events = {'plain': threading.Event(),
                       'runner': threading.Event()}
        self.seconds: Dict[str, List[float]] = {'plain': [], 'runner': []}
        self.cpu_seconds: Dict[str, List[float]] = {'plain': [],
                                                    'runner': []}
        self.error: Optional[BaseException] = None
        # mmengine's registries switch a process-wide default scope while
        # building: the loops build one after the other, each holding this
        # lock until its first turn.
        self.build_lock = threading.Lock()

    def side(self, name: str) -> 'Turn':
        """The timer object of one loop ('plain' or 'runner')."""
        return Turn(self, name, 'runner' if name == 'plain' else 'plain')

    def fail(self, error: BaseException) -> None:
        """Record a loop's failure and wake the other one."""
        self.error = error
        if self.build_lock.locked():
            self.build_lock.release()
        for event in self.events.values():
            event.set()


class Turn:
    """One loop's side of :class:`Turns` (same interface as Window)."""

    def __init__(self, turns: Turns, name: str, other: str) -> None:
        self.turns, self.name, self.other = turns, name, other
        self.count = 0
        self.end: Optional[float] = None
        self._start = self._cpu_start = 0.0

    def begin(self) -> None:
        """Wait for this loop's turn, then start its clock."""
        if self.count == 0:
            self.turns.build_lock.release()
        if not self.turns.events[self.name].wait(timeout=1800):
            raise RuntimeError(f'{self.other} loop stalled')
        self.turns.events[self.name].clear()
        if self.turns.error is not None:
            raise RuntimeError(f'{self.other} loop failed') from \
                self.turns.error
        self._start = time.perf_counter()
        self._cpu_start = time.thread_time()

    def tick(self) -> None:
        """End this loop's turn, hand over, and wait for the next one."""
        if self.turns.cuda:
            import torch
            torch.cuda.synchronize()
        self.turns.seconds[self.name].append(time.perf_counter() -
                                             self._start)
        self.turns.cpu_seconds[self.name].append(time.thread_time() -
                                                 self._cpu_start)
        self.count += 1
        self.turns.events[self.other].set()
        if self.count < self.turns.total:
            self.begin()
        else:
            self.end = time.perf_counter()


def _iterate(loader, window: Window) -> None:
    """Data only: draw batches (cycling epochs) until the window closes."""
    while window.end is None:
        for _ in loader:
            window.tick()
            if window.end is not None:
                break


def _plain(args, settings, window: Window, device) -> None:
    import torch
    from plain_pytorch import train_one_epoch
    from torch.utils.data import DataLoader, Dataset, Subset
    from torchvision import datasets, transforms

    count = args.batch_size * (args.warmup + args.iters)
    if args.data == 'memory':
        normalize = transforms.Compose([
            transforms.ToTensor(),
            transforms.Normalize(settings.mean, settings.std)])
        stored = torch.load(args.memory, weights_only=True)

        class Images(Dataset):

            def __len__(self) -> int:
                return len(stored['labels'])

            def __getitem__(self, i: int):
                return (normalize(stored['images'][i].numpy()),
                        int(stored['labels'][i]))

        dataset, workers = Images(), 0
    else:
        folder = datasets.ImageFolder(Path(args.files) / 'train',
                                      settings.train_transform())
        dataset = Subset(folder, range(min(count, len(folder))))
        workers = args.workers
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                        num_workers=workers,
                        pin_memory=device.type == 'cuda',
                        persistent_workers=workers > 0)
    if 'data_only' in args.options:
        _iterate(loader, window)
        return
    model = settings.build_model().to(device)
    optimizer = settings.optimizer(model)
    window.begin()
    train_one_epoch(model, loader, torch.nn.CrossEntropyLoss(), optimizer,
                    device, after_step=window.tick)


def _runner(args, settings, window: Window, work_dir: str) -> None:
    import torch
    from mmengine.hooks import Hook
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import DATASETS, HOOKS

    sys.path.insert(0, str(HERE.parent))
    from train import mmpretrain_tool

    @HOOKS.register_module(force=True)
    class ThroughputWindowHook(Hook):
        priority = 'LOWEST'  # after the logger and every other hook

        def before_train(self, runner) -> None:
            window.begin()

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None) -> None:
            window.tick()

    @DATASETS.register_module(force=True)
    class InMemoryImages(torch.utils.data.Dataset):
        """Decoded BGR images run through the config's last transform."""

        def __init__(self, path: str, pipeline: list) -> None:
            from mmcv.transforms import Compose
            stored = torch.load(path, weights_only=True)
            self.images = [im.numpy()[..., ::-1].copy()
                           for im in stored['images']]
            self.labels = stored['labels'].tolist()
            self.pipeline = Compose(pipeline)
            self.metainfo = {}

        def __len__(self) -> int:
            return len(self.labels)

        def __getitem__(self, i: int) -> dict:
            return self.pipeline(dict(img=self.images[i],
                                      gt_label=self.labels[i]))

    # The config exactly as `tools/train.py --no-validate [--amp]` (and
    # `mim train`) would run it: mmpretrain's own merge_args.
    train_tool = runpy.run_path(str(mmpretrain_tool('train.py')))
    cfg = train_tool['merge_args'](settings.cfg, argparse.Namespace(
        config=args.config, work_dir=work_dir, resume=None,
        amp='amp' in args.options, no_validate=True, auto_scale_lr=False,
        no_pin_memory=False, no_persistent_workers=False, cfg_options=None,
        launcher='none'))
    train = cfg.train_dataloader
    train.batch_size = args.batch_size
    if args.data == 'memory':
        train.dataset = dict(type='InMemoryImages', path=args.memory,
                             pipeline=[train.dataset.pipeline[-1]])
        train.num_workers = 0
    else:
        train.dataset.data_root = args.files
        train.dataset.indices = args.batch_size * (args.warmup + args.iters)
        for transform in train.dataset.pipeline:
            if transform['type'].endswith('RandomResizedCrop'):
                transform['scale'] = args.img_size
        train.num_workers = args.workers
    cfg.load_from = None
    cfg.train_cfg.max_epochs = 1
    # the config's ChannelsLastHook (on by default on GPU) follows the case
    cfg.custom_hooks = [
        hook for hook in cfg.get('custom_hooks', [])
        if hook['type'] != 'ChannelsLastHook'
    ] + [
        dict(type='ChannelsLastHook',
             enable='channels_last' in args.options),
        dict(type='ThroughputWindowHook')
    ]
    if 'compile' in args.options:
        cfg.compile = True
    if 'data_only' in args.options:
        init_default_scope('mmpretrain')
        _iterate(Runner.build_dataloader(cfg.train_dataloader, seed=0),
                 window)
        return
    Runner.from_cfg(cfg).train()


def measure(args: argparse.Namespace) -> dict:
    """Run one measurement in this process.

    Args:
        args: Parsed ``--run`` arguments.

    Returns:
        images/s and peak memory.
    """
    import torch

    from plain_pytorch import Settings
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if args.loop == 'both':
        return _alternate(args, device)
    settings = Settings(args.config, args.batch_size, args.img_size)
    window = Window(args.warmup, args.iters, device.type == 'cuda')
    with tempfile.TemporaryDirectory() as work_dir:
        if args.loop == 'plain':
            _plain(args, settings, window, device)
        else:
            _runner(args, settings, window, work_dir)
    if device.type == 'cuda':
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(images_per_s=window.images_per_s(args.batch_size),
                cpu_ms_per_iter=window.cpu_ms_per_iter(), peak_mib=peak_mib)


def _alternate(args: argparse.Namespace, device) -> dict:
    """Both loops in this process, alternating iteration by iteration.

    Args:
        args: Parsed ``--run`` arguments.
        device: Where to train.

    Returns:
        images/s and CPU ms per iteration of each loop, and their ratio.
    """
    from plain_pytorch import Settings
    turns = Turns(args.warmup + args.iters, device.type == 'cuda')

    def plain_thread() -> None:
        try:
            turns.build_lock.acquire()  # held until its first turn
            _plain(args, Settings(args.config, args.batch_size,
                                  args.img_size), turns.side('plain'),
                   device)
        except BaseException as error:  # noqa: B902  (re-raised below)
            turns.fail(error)

    def runner_thread(work_dir: str) -> None:
        try:
            turns.build_lock.acquire()  # held until its first turn
            _runner(args, Settings(args.config, args.batch_size,
                                   args.img_size), turns.side('runner'),
                    work_dir)
        except BaseException as error:  # noqa: B902  (re-raised below)
            turns.fail(error)

    # Both loops run in threads other than the main one, so neither has the
    # main thread's stack and heap to itself (see run_case on malloc).
    with tempfile.TemporaryDirectory() as work_dir:
        threads = [threading.Thread(target=plain_thread),
                   threading.Thread(target=runner_thread, args=(work_dir, ))]
        turns.events['plain'].set()  # the plain loop goes first
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if turns.error is not None:
        raise turns.error
    result = {}
    for name in ('plain', 'runner'):
        timed = slice(args.warmup, args.warmup + args.iters)
        result[f'{name}_images_per_s'] = (
            args.iters * args.batch_size / sum(turns.seconds[name][timed]))
        result[f'{name}_cpu_ms_per_iter'] = 1000 * statistics.mean(
            turns.cpu_seconds[name][timed])
    result['images_per_s'] = result['runner_images_per_s']
    result['cpu_ms_per_iter'] = result['runner_cpu_ms_per_iter']
    result['runner_vs_plain'] = (result['runner_images_per_s'] /
                                 result['plain_images_per_s'])
    result['peak_mib'] = 0.0  # both loops share the process
    return result


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
                _plain(run_args, settings, window, device)
            else:
                _runner(run_args, settings, window, work_dir)
            profiler.disable()
        stats = pstats.Stats(profiler).stats
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
            not path.endswith('train_throughput.py')) / iterations
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


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
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
    # One malloc arena for all threads: with glibc's default, the loops of
    # an `alternating` case would allocate from different arenas, and that
    # alone moved their speeds apart by 5-20 % at 224 px, either way.
    env = dict(os.environ, MALLOC_ARENA_MAX='1')
    result = subprocess.run(cmd, stdout=subprocess.PIPE, env=env,
                            stderr=subprocess.STDOUT, text=True)
    lines = [line for line in result.stdout.splitlines()
             if line.startswith('RESULT ')]
    if result.returncode != 0 or not lines:
        raise SystemExit(f'{name} failed:\n{result.stdout[-4000:]}')
    return json.loads(lines[-1][len('RESULT '):])


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
    parser.add_argument('--max-photos-per-class', type=int, default=40,
                        help='cap on generated files (data-only cases cycle '
                        'through them; training cases need enough for one '
                        'epoch of warmup + iters batches)')
    parser.add_argument('--json', help='write the raw results here')
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
    return parser.parse_args()


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


def main() -> None:
    args = parse_args()
    if args.run:
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
        results: Dict[str, List[dict]] = {name: [] for name in args.cases}
        for repeat in range(args.repeats):
            # rotate the order so no case always runs first or last
            order = args.cases[repeat % len(args.cases):] + \
                args.cases[:repeat % len(args.cases)]
            for name in order:
                result = run_case(name, args, memory, files)
                results[name].append(result)
                plain = (f" (plain {result['plain_images_per_s']:.2f})"
                         if 'plain_images_per_s' in result else '')
                print(f'[{repeat + 1}/{args.repeats}] {name}: '
                      f"{result['images_per_s']:.2f} images/s{plain}, "
                      f"{result['cpu_ms_per_iter']:.0f} CPU ms/iter, peak "
                      f"{result['peak_mib']:.0f} MiB", flush=True)
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
