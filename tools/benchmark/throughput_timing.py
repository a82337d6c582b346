"""Timers of the training-throughput benchmark: a window of iterations in
one loop, or two loops taking turns iteration by iteration."""
import resource
import threading
import time
from typing import Dict, List, Optional


def _thread_faults() -> int:
    """Minor page faults of the calling thread so far (Linux)."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


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
        # minor page faults of each turn (fresh memory the kernel maps in)
        self.faults: Dict[str, List[int]] = {'plain': [], 'runner': []}
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
        self._faults_start = 0

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
        self._faults_start = _thread_faults()

    def tick(self) -> None:
        """End this loop's turn, hand over, and wait for the next one."""
        if self.turns.cuda:
            import torch
            torch.cuda.synchronize()
        self.turns.seconds[self.name].append(time.perf_counter() -
                                             self._start)
        self.turns.cpu_seconds[self.name].append(time.thread_time() -
                                                 self._cpu_start)
        self.turns.faults[self.name].append(_thread_faults() -
                                            self._faults_start)
        self.count += 1
        self.turns.events[self.other].set()
        if self.count < self.turns.total:
            self.begin()
        else:
            self.end = time.perf_counter()

