"""Keep mmengine's start-up dump in the log file, off the console.

Before the first training step mmengine's Runner logs about 300 lines: the
system and runtime environment, the whole config and the order of every
hook. They belong in the log file (that is where one looks them up), but on
the console they push everything useful out of sight. :func:`quiet_console`
adds a :class:`logging.Filter` to the console handler of an
:class:`~mmengine.logging.MMLogger` only; the file handler still gets every
record. The console instead shows one line saying where they are.
"""
import logging
from typing import Optional, Tuple

#: Starts of the messages kept off the console (mmengine 0.10.7 Runner:
#: ``_log_env`` twice, then the hook listing in ``__init__``).
STARTUP_DUMPS: Tuple[str, ...] = (
    '\n' + '-' * 60 + '\nSystem environment:',
    'Config:\n',
    'Hooks will be executed in the following order:\n',
)


#: Lines of the runtime dump still worth a console line.
RUNTIME_FACTS: Tuple[str, ...] = ('seed:', 'Distributed launcher:',
                                  'Distributed training:', 'GPU number:')


class StartupDumpFilter(logging.Filter):
    """Drop the Runner's environment, config and hook dumps from a handler.

    The first time it drops one it emits, through the same handler, a single
    line naming the log file that holds them.

    Args:
        handler: The console handler the filter is attached to.
        log_file: The log file holding the full text, if any.
    """

    def __init__(self, handler: logging.Handler,
                 log_file: Optional[str] = None) -> None:
        super().__init__()
        self.handler = handler
        self.log_file = log_file
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Let a record through unless it is one of the start-up dumps.

        Args:
            record: The record about to be emitted on the console.

        Returns:
            False for the dumps in :data:`STARTUP_DUMPS`, True otherwise.
        """
        if not isinstance(record.msg, str) or not record.msg.startswith(
                STARTUP_DUMPS):
            return True
        self.dropped += 1
        summary = runtime_summary(record.msg)
        if self.dropped == 1 or summary:
            where = self.log_file or 'the log file'
            pointer = f'Environment, config and hook order: see {where}'
            note = logging.makeLogRecord(dict(
                record.__dict__, args=None,
                msg=f'{summary}. {pointer}' if summary else pointer))
            self.handler.handle(note)
        return False


def runtime_summary(message: str) -> str:
    """One line of the runtime dump's launch facts, or '' for other dumps.

    Args:
        message: A start-up dump.

    Returns:
        e.g. ``'Runtime: seed: 0, Distributed launcher: pytorch, Distributed
        training: True, GPU number: 2'``.
    """
    if 'Runtime environment:' not in message:
        return ''
    facts = [line.strip() for line in message.splitlines()
             if line.strip().startswith(RUNTIME_FACTS)]
    return 'Runtime: ' + ', '.join(facts) if facts else ''


def quiet_console(logger: logging.Logger) -> Optional[StartupDumpFilter]:
    """Keep the Runner's start-up dumps off ``logger``'s console handler.

    Call it on the logger the Runner uses (e.g. from ``build_logger``)
    before the Runner logs its environment. Idempotent.

    Args:
        logger: An :class:`~mmengine.logging.MMLogger` (any logger with a
            console ``StreamHandler`` works).

    Returns:
        The filter, or None when the logger has no console handler.
    """
    log_file = getattr(logger, 'log_file', None)
    for handler in logger.handlers:
        if (not isinstance(handler, logging.StreamHandler)
                or isinstance(handler, logging.FileHandler)):
            continue
        for existing in handler.filters:
            if isinstance(existing, StartupDumpFilter):
                return existing
        dump_filter = StartupDumpFilter(handler, log_file)
        handler.addFilter(dump_filter)
        return dump_filter
    return None
