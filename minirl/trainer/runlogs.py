"""The run's JSONL logs when a run resumes: drop exactly the records the resumed run will write again.

A run resumed from the checkpoint of step k retrains steps k+1.. and logs them again, so without truncation they
would appear twice (or, from a run killed earlier, stale). What survives, per log:

- ``metrics.jsonl``: train records of steps <= k and eval records of steps <= k (an eval at step k runs before the
  checkpoint of step k is written, so it is not redone), except the end-of-run eval at step k when the resumed run
  ends at k too (it evaluates again);
- ``samples.jsonl``: records of steps < k (the samples of step index s are written while training step s + 1).

The logs are read by ``minirl.files.read_jsonl``, the one reader of run logs: a line cut short by a kill (the last
line, unparseable) is dropped; an unparseable line elsewhere is an error naming the file and line, and nothing is
rewritten. Each log is replaced atomically (``minirl.files.atomic_write_text``): a kill during the truncation leaves
the old log whole.
"""

from __future__ import annotations

from pathlib import Path

from minirl import files

LOGS = ("metrics.jsonl", "samples.jsonl")


def _keep(name: str, record: dict, step: int, end_step: int) -> bool:
    at = record.get("step", 0)
    if name == "samples.jsonl":
        return at < step
    if record.get("type") == "eval" and record.get("when") == "end" and at == step:
        return step != end_step
    return at <= step


def truncate_for_resume(out_dir: str | Path, step: int, end_step: int) -> dict[str, int]:
    """Rewrite the logs of ``out_dir`` for a run resuming at ``step`` that ends at ``end_step``; returns the number of
    records dropped per log."""
    out_dir = Path(out_dir)
    parsed = {
        name: [(line.text, line.value) for line in files.read_jsonl(out_dir / name, warn=False)]
        for name in LOGS
        if (out_dir / name).exists()
    }  # all checked first
    dropped = {}
    for name, records in parsed.items():
        kept = [line for line, record in records if _keep(name, record, step, end_step)]
        dropped[name] = len(records) - len(kept)
        files.atomic_write_text(out_dir / name, "".join(line + "\n" for line in kept))
    return dropped
