"""Requests that arrive together run as one batch, in one inference thread.

The event loop never runs the model: a single worker thread does, so the
server keeps accepting (and rejecting) requests while a batch runs, and
requests that queued up meanwhile form the next batch.
"""
import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Hashable, List, Optional, Tuple


@dataclass
class Job:
    """One image to predict.

    Args:
        image: The decoded RGB picture.
        data: The uploaded bytes (the PyTorch backend runs the config's
            whole test pipeline, loader included, on them).
        topk: Classes wanted.
        threshold: Explicit "unknown" threshold; None keeps the model's.
        name: The file name sent, for messages.
    """
    image: Any
    data: bytes = b''
    topk: int = 5
    threshold: Optional[float] = None
    name: str = 'upload'


@dataclass
class BatchStats:
    """Counts for ``/api/health``."""
    batches: int = 0
    images: int = 0
    largest: int = 0

    def add(self, size: int) -> None:
        """Count one batch of ``size`` images."""
        self.batches += 1
        self.images += size
        self.largest = max(self.largest, size)

    def to_dict(self) -> dict:
        """JSON-ready counts."""
        return dict(batches=self.batches, images=self.images,
                    largest_batch=self.largest,
                    mean_batch=round(self.images / self.batches, 2)
                    if self.batches else 0.0)


class MicroBatcher:
    """Collect jobs for up to ``max_wait_ms`` (at most ``max_batch``), run
    them with ``run_batch`` in the inference thread.

    Args:
        run_batch: ``(group key, jobs) -> results``, one result per job
            (an exception instance fails that job alone); called with jobs
            of one :meth:`group_key` only.
        max_batch: Most images per call.
        max_wait_ms: How long the first job of a batch waits for others.
    """

    def __init__(self, run_batch: Callable[[Hashable, List[Job]], List[Any]],
                 max_batch: int = 16, max_wait_ms: float = 10.0) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError('max_batch must be >= 1 and max_wait_ms >= 0')
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatchStats()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix='inference')
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None

    @staticmethod
    def group_key(job: Job) -> Hashable:
        """Jobs with the same key can share a call (same threshold)."""
        return job.threshold

    async def submit(self, job: Job) -> Any:
        """Queue a job and wait for its result.

        Raises:
            Exception: Whatever ``run_batch`` raised for its batch.
        """
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((job, future))
        return await future

    async def call(self, fn: Callable, *args) -> Any:
        """Run ``fn(*args)`` in the inference thread (e.g. Grad-CAM)."""
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, fn, *args)

    async def _collect(self) -> List[Tuple[Job, asyncio.Future]]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._collect()
            groups = {}
            for job, future in batch:
                groups.setdefault(self.group_key(job), []).append(
                    (job, future))
            for key, members in groups.items():
                try:
                    await self._run(key, members)
                except Exception as error:  # keep serving the next batch
                    for _, future in members:
                        if not future.done():
                            future.set_exception(error)

    async def _run(self, key: Hashable,
                   members: List[Tuple[Job, asyncio.Future]]) -> None:
        jobs = [job for job, _ in members]
        try:
            results = await self.call(self.run_batch, key, jobs)
        except Exception as error:  # the batch fails, the server does not
            for _, future in members:
                if not future.done():
                    future.set_exception(error)
            return
        self.stats.add(len(jobs))
        for (_, future), result in zip(members, results):
            if future.done():  # a client that went away
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def close(self) -> None:
        """Stop the loop and the inference thread."""
        if self._task is not None:
            self._task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
