"""One line per epoch from mmengine's training log, as it is written.

:class:`EpochLines` reads the lines an epoch-based mmengine run logs (train
iterations, ``Saving checkpoint at N epochs``, the validation summary, the
best-checkpoint, early-stopping and resume messages) and turns each finished
epoch into one line such as::

    epoch  5/40  loss 2.114  val top-1 41.25 % (best)  ETA 0:03:10

``tools/analysis/watch_train.py`` runs it on a training's output, which is
how ``tools/quickstart.sh`` shows progress while the full log goes to a file.
"""
import re
from typing import List, Optional

_TRAIN = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*\d+/\d+\]')
_ETA = re.compile(r'eta: ((?:\d+ days?, )?\d+:\d\d:\d\d)')
_LOSS = re.compile(r'\sloss: ([-\d.eE+naif]+)')
_SAVED = re.compile(r'Saving checkpoint at (\d+) epochs')
_VAL = re.compile(r'Epoch\(val\)\s+\[(\d+)\]\[\s*\d+/\d+\].*?'
                  r'accuracy/top1: ([\d.]+)')
_BEST = re.compile(r'The best checkpoint with ([\d.]+) accuracy/top1')
_STOPPED = re.compile(r'the monitored metric did not improve.*')
_RESUMED = re.compile(r'resumed epoch: (\d+)')


class EpochLines:
    """Turn an epoch-based mmengine log into one summary line per epoch.

    An epoch's line is emitted as soon as it is known to be complete: at
    its validation summary when the epoch validates, else when its
    checkpoint is saved, else when the next epoch's first line arrives
    (or at the end, :meth:`flush`). The best top-1 is the best seen in this
    output (and in best-checkpoint messages, so also on resume).

    Args:
        max_epochs: Length of the run, shown as ``epoch N/max``; None to
            show ``epoch N``.
        val_interval: Validation interval in epochs (``train_cfg``).
        val_begin: First epoch that may validate (``train_cfg``).
    """

    def __init__(self, max_epochs: Optional[int] = None,
                 val_interval: int = 1, val_begin: int = 1) -> None:
        self.max_epochs = max_epochs
        self.val_interval = max(1, val_interval)
        self.val_begin = val_begin
        self.epoch: Optional[int] = None
        self.emitted = 0
        self.loss: Optional[str] = None
        self.eta: Optional[str] = None
        self.top1: Optional[float] = None
        self.top1_epoch: Optional[int] = None
        self.best: Optional[float] = None

    def validates(self, epoch: int) -> bool:
        """Whether mmengine's EpochBasedTrainLoop validates after ``epoch``.

        Args:
            epoch: 1-based epoch number.

        Returns:
            True when a validation summary is expected for the epoch.
        """
        return epoch >= self.val_begin and (
            epoch % self.val_interval == 0 or epoch == self.max_epochs)

    def feed(self, line: str) -> List[str]:
        """Read one log line.

        Args:
            line: A line of the training's output.

        Returns:
            The summary lines it completes (usually none, sometimes one).
        """
        out: List[str] = []
        train = _TRAIN.search(line)
        if train:
            epoch = int(train.group(1))
            if self.epoch is not None and epoch > self.epoch:
                out += self.flush()
            self.epoch = epoch
            eta, loss = _ETA.search(line), _LOSS.search(line)
            self.eta = eta.group(1) if eta else self.eta
            self.loss = loss.group(1) if loss else self.loss
            return out
        resumed = _RESUMED.search(line)
        if resumed:
            self.epoch = self.emitted = int(resumed.group(1))
            total = f' of {self.max_epochs}' if self.max_epochs else ''
            return [f'resumed after epoch {self.emitted}{total}']
        saved, val = _SAVED.search(line), _VAL.search(line)
        best, stopped = _BEST.search(line), _STOPPED.search(line)
        if saved and not self.validates(int(saved.group(1))):
            self.epoch = int(saved.group(1))
            out += self.flush()
        elif val:
            self.epoch = int(val.group(1))
            self.top1, self.top1_epoch = float(val.group(2)), self.epoch
            self.best = max(self.best or self.top1, self.top1)
            out += self.flush()
        elif best:
            self.best = max(self.best or 0.0, float(best.group(1)))
        elif stopped:
            out += self.flush()
            out.append(f'stopped early: {stopped.group(0)}')
        return out

    def flush(self) -> List[str]:
        """Emit the current epoch's line if it was not emitted yet.

        Returns:
            Zero or one summary line.
        """
        if self.epoch is None or self.epoch <= self.emitted:
            return []
        self.emitted = self.epoch
        total = f'/{self.max_epochs}' if self.max_epochs else ''
        text = f'epoch {self.epoch:>3}{total}'
        if self.loss is not None:
            text += f'  loss {float(self.loss):.3f}'
        if self.top1 is not None:
            text += f'  val top-1 {self.top1:.2f} %'
            if self.top1_epoch != self.epoch:
                text += f' (epoch {self.top1_epoch})'
            elif self.best is not None and self.top1 >= self.best:
                text += ' (best)'
            elif self.best is not None:
                text += f' (best {self.best:.2f} %)'
        if self.eta is not None:
            left = self.max_epochs is None or self.epoch < self.max_epochs
            text += f'  ETA {self.eta}' if left else '  done'
        return [text]
