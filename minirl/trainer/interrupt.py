"""Ctrl-C during training: the first press lets the step finish (the trainer then saves a checkpoint and stops), the
second stops at once."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path


class StopOnInterrupt:
    """Inside its ``with`` block, SIGINT sets :attr:`requested` (and says so) instead of raising; a second SIGINT
    raises ``KeyboardInterrupt``. The previous handler comes back on leaving. Outside the main thread, where Python
    cannot install a handler, it does nothing.

    >>> before = signal.getsignal(signal.SIGINT)
    >>> with StopOnInterrupt(say=print) as stop:
    ...     signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # what a Ctrl-C calls
    <BLANKLINE>
    [minirl] Ctrl-C: finishing this step, saving a checkpoint, then stopping (press again to stop at once).
    >>> stop.requested, signal.getsignal(signal.SIGINT) is before
    (True, True)
    """

    def __init__(self, say: Callable[[str], None] = print):
        self.say = say
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        if self.requested:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True
        self.say(
            "\n[minirl] Ctrl-C: finishing this step, saving a checkpoint, then stopping "
            "(press again to stop at once)."
        )

    def stopped(self, step: int, checkpoint: Path | None, output_dir: Path) -> None:
        """Say that the run stopped at ``step`` after saving ``checkpoint``, and how to continue it.

        >>> StopOnInterrupt(say=print).stopped(3, Path("runs/x/checkpoints/step-000003"), Path("runs/x"))
        [minirl] stopped at step 3; checkpoint: runs/x/checkpoints/step-000003. Continue with --checkpoint.resume latest --run.output_dir runs/x
        """
        self.say(
            f"[minirl] stopped at step {step}; checkpoint: {checkpoint}. "
            f"Continue with --checkpoint.resume latest --run.output_dir {output_dir}"
        )

    def __enter__(self) -> StopOnInterrupt:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not in the main thread
            self._previous = None
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
