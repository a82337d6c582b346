"""One measurement of the training-throughput benchmark (one process):
the hand-written loop, the Runner, or both alternating."""
import argparse
import resource
import statistics
import tempfile
import threading
from pathlib import Path

from throughput_timing import Turns, Window


def iterate(loader, window: Window) -> None:
    """Data only: draw batches (cycling epochs) until the window closes."""
    while window.end is None:
        for _ in loader:
            window.tick()
            if window.end is not None:
                break


def run_plain(args, settings, window: Window, device) -> None:
    """Train with the hand-written loop (plain_pytorch.py), timed.

    Args:
        args: Parsed ``--run`` arguments.
        settings: ``plain_pytorch.Settings`` of the config.
        window: ``Window`` or ``Turn`` timer.
        device: Where to train.
    """
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
        iterate(loader, window)
        return
    model = settings.build_model().to(device)
    optimizer = settings.optimizer(model)
    window.begin()
    train_one_epoch(model, loader, torch.nn.CrossEntropyLoss(), optimizer,
                    device, after_step=window.tick)



def measure(args: argparse.Namespace) -> dict:
    """Run one measurement in this process.

    Args:
        args: Parsed ``--run`` arguments.

    Returns:
        images/s and peak memory.
    """
    import torch

    from plain_pytorch import Settings
    from throughput_runner import run_runner
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if args.loop == 'both':
        return _alternate(args, device)
    settings = Settings(args.config, args.batch_size, args.img_size)
    window = Window(args.warmup, args.iters, device.type == 'cuda')
    with tempfile.TemporaryDirectory() as work_dir:
        if args.loop == 'plain':
            run_plain(args, settings, window, device)
        else:
            run_runner(args, settings, window, work_dir)
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
    from throughput_runner import run_runner
    turns = Turns(args.warmup + args.iters, device.type == 'cuda')

    settings = Settings(args.config, args.batch_size, args.img_size)

    def take_turns(loop, *loop_args) -> None:
        try:
            turns.build_lock.acquire()  # held until its first turn
            loop(*loop_args)
        except BaseException as error:  # noqa: B902  (re-raised below)
            turns.fail(error)

    # Both loops run in threads other than the main one, so neither has the
    # main thread's stack and heap to itself (see run_case on malloc).
    with tempfile.TemporaryDirectory() as work_dir:
        threads = [
            threading.Thread(target=take_turns, args=(
                run_plain, args, settings, turns.side('plain'), device)),
            threading.Thread(target=take_turns, args=(
                run_runner, args, settings, turns.side('runner'), work_dir))]
        # the plain loop goes first unless the case says otherwise
        turns.events['runner' if 'runner_first' in args.options
                     else 'plain'].set()
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
        result[f'{name}_page_faults_per_iter'] = statistics.mean(
            turns.faults[name][timed])
    result['images_per_s'] = result['runner_images_per_s']
    result['cpu_ms_per_iter'] = result['runner_cpu_ms_per_iter']
    result['runner_vs_plain'] = (result['runner_images_per_s'] /
                                 result['plain_images_per_s'])
    result['peak_mib'] = 0.0  # both loops share the process
    return result

