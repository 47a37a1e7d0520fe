"""Writing run files safely: valid JSON (NaN/inf as ``null``) and durable, atomic replacement; reading the JSONL
logs a run appends to (``metrics.jsonl``, ``samples.jsonl``).

Metrics use NaN for "nothing to average" (e.g. a reward that scored no sample), so that processes can be merged with
``nanmean``; ``json.dumps`` writes it as ``NaN``, which is not JSON (``jq``, JavaScript and pandas' strict readers
refuse it). :func:`finite_or_none` turns every non-finite float into ``None`` first.

A file that is rewritten (a truncated log) or a directory that is renamed into place (a checkpoint) goes through a
temporary name, is flushed to the disk with ``fsync`` (the file, then its directory), and is renamed with
``os.replace``, which is atomic on POSIX: a process killed at any moment leaves the old or the new version, never a
mix, and a machine crash cannot leave a complete-looking name whose contents never reached the disk.

A log is read by :func:`read_jsonl` (any log) or :func:`read_metrics` (``metrics.jsonl``, its rows checked), with
rules chosen so that a live or interrupted run can still be read:

- blank lines are skipped;
- a bad *last* line is skipped with a warning: the trainer may be writing it, or was killed mid-write;
- any other bad line raises ``ValueError`` naming the file and line number, because silently dropping data
  from the middle of a run would give a misleading picture of it.
"""

from __future__ import annotations

import errno
import json
import math
import numbers
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN/inf number, also inside dicts, lists and arrays, as None: valid JSON (``null``).

    Numpy numbers become Python ints and floats; tensors and arrays become lists.

    >>> finite_or_none({"a": 1.0, "b": float("nan"), "c": "x", "rewards": [2.0, float("inf")], "n": 3})
    {'a': 1.0, 'b': None, 'c': 'x', 'rewards': [2.0, None], 'n': 3}
    """
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):  # numpy integers too
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if hasattr(value, "tolist"):  # a tensor or numpy array (or scalar)
        return finite_or_none(value.tolist())
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`finite_or_none` (``value``): never writes ``NaN`` or ``Infinity``.

    >>> dumps({"loss": float("nan"), "step": 2})
    '{"loss": null, "step": 2}'
    """
    return json.dumps(finite_or_none(value), allow_nan=False, **kwargs)


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (a new or renamed name in it) to the disk; a no-op where it is not supported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(path: str | Path) -> None:
    """``fsync`` every file under ``path``, then every directory bottom-up, then ``path`` itself."""
    path = Path(path)
    for root, _dirs, files in os.walk(path, topdown=False):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(root)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably: temp file, fsync, ``os.replace``, fsync of the folder."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class JsonLine(NamedTuple):
    """One line of a JSONL log: its number (from 1), its text as written, and its parsed value."""

    lineno: int
    text: str
    value: Any


def read_jsonl(path: str | Path, warn: bool = True) -> list[JsonLine]:
    """Each non-blank line of a JSONL log (module docstring: a bad last line is skipped, with a warning unless
    ``warn`` is False; any other bad line raises ``ValueError`` naming the file and line).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "samples.jsonl"
    >>> _ = p.write_text('{"step": 1}\\n\\n{"step": 2}\\n{"step": 3, "tru')
    >>> [line.value["step"] for line in read_jsonl(p, warn=False)]
    [1, 2]
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    last = max((i for i, line in enumerate(lines, start=1) if line.strip()), default=0)
    out = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append(JsonLine(lineno, line, json.loads(line)))
        except json.JSONDecodeError as err:
            if lineno == last:
                if warn:
                    warnings.warn(
                        f"{path}:{lineno}: skipping an incomplete last line (is the run still writing, "
                        f"or was it interrupted?): {err.msg}",
                        stacklevel=3,
                    )
                continue
            raise ValueError(
                f"{path}:{lineno}: not valid JSON ({err.msg}); fix or delete this line"
            ) from None
    return out


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of a run's ``metrics.jsonl``: :func:`read_jsonl`, each row checked to be an object with a numeric
    ``step`` and, if it has one, a non-empty string ``type`` (``train``, the default, or ``eval``).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> _ = p.write_text('{"step": 1, "reward": 0.5}\\n\\n{"step": 2, "type": "eval", "accuracy": 0.25}\\n')
    >>> [row["step"] for row in read_metrics(p)]
    [1, 2]
    """
    path = Path(path)
    rows = []
    for lineno, _, row in read_jsonl(path):
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        step = row.get("step")
        if not isinstance(step, (int, float)) or isinstance(step, bool) or not math.isfinite(step):
            raise ValueError(f"{path}:{lineno}: every line needs a numeric 'step', got {step!r}")
        kind = row.get("type", "train")
        if not isinstance(kind, str) or not kind:
            raise ValueError(
                f"{path}:{lineno}: 'type' must be a non-empty string such as 'train' or 'eval', got {kind!r}"
            )
        rows.append(row)
    return rows


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
"""The errors of a write that found the disk (or the user's quota) full."""


class DiskFullError(OSError):
    """A run file could not be written for lack of disk space; the message names the path and the space needed."""


@contextmanager
def disk_space_for(path: str | Path, needed: int, hint: str = "") -> Iterator[None]:
    """Turn a full disk (``ENOSPC``/``EDQUOT``) inside the block into a :class:`DiskFullError` that names ``path``,
    the ``needed`` bytes and the disk's free space (plus ``hint``); other errors pass unchanged.

    >>> try:
    ...     with disk_space_for("runs/x/model", 2**30, "the last checkpoint is intact"):
    ...         raise OSError(errno.ENOSPC, "No space left on device")
    ... except DiskFullError as err:
    ...     print(str(err).split(":")[0])
    no space left to write runs/x/model
    """
    try:
        yield
    except OSError as err:
        if err.errno not in NO_SPACE:
            raise
        folder = Path(path).resolve()
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        full = DiskFullError(
            f"no space left to write {path}: it needs about {needed / 2**30:.2f} GiB and its disk has "
            f"{free / 2**30:.2f} GiB free" + (f"; {hint}" if hint else "")
        )
        full.errno = err.errno
        raise full from None
