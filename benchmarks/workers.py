"""Worker processes for the benchmarks that compare two sides' memory: each side runs in its own subprocess (so that
each has its own peak RSS), and the parent drives them alternately, one step at a time, over a line protocol on the
worker's stdin (requests ``step`` / ``quit``) and stdout (answers: JSON after :data:`PREFIX`; other lines are the
worker's own output and are passed through).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import peak_rss_mib, say

PREFIX = "@@bench "  # worker -> parent protocol lines on stdout (libraries print there too)


def send(obj: dict) -> None:
    """Worker side: answer the parent with one protocol line."""
    print(PREFIX + json.dumps(obj), flush=True)


def receive() -> str:
    """Worker side: the parent's next request (``step`` or ``quit``; empty when the pipe closed)."""
    return sys.stdin.readline().strip()


def serve(step: Callable[[], dict], **ready) -> None:
    """Worker side: say ready (with ``ready``'s items), then answer each ``step`` request with ``step()`` until
    ``quit``."""
    send({"ready": True, "peak_rss_mib": peak_rss_mib(), **ready})
    while receive() == "step":
        send(step())


class Worker:
    """A worker subprocess for one side: ``python <script> <argv> --worker <kind>``, driven over its stdin/stdout."""

    def __init__(self, script: str | Path, kind: str, argv: list[str]):
        cmd = [sys.executable, str(script), *argv, "--worker", kind]
        self.kind = kind
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ready = self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
            print(f"[{self.kind}] {line}", end="", flush=True)  # the worker's own output
        raise RuntimeError(
            f"the {self.kind} worker exited with code {self.proc.wait()} (its stderr is above)"
        )

    def step(self) -> dict:
        """Ask for one step and return its measurements."""
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        """Tell the worker to quit and wait for it (killed after 2 minutes)."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def alternate_workers(workers: dict[str, Worker], warmup: int, steps: int) -> dict[str, list[dict]]:
    """Step the workers in turn (a, b, a, b, ...): ``warmup`` untimed steps each, then ``steps`` timed ones."""
    rows: dict[str, list[dict]] = {k: [] for k in workers}
    for i in range(warmup + steps):
        for kind, w in workers.items():
            row = w.step()
            label = "warm-up" if i < warmup else "timed"
            say(f"{kind:8s} step {i + 1} ({label}): {row['seconds']:.1f} s")
            if i >= warmup:
                rows[kind].append(row)
    return rows
