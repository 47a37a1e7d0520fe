"""GSM8K (Cobbe et al., 2021): grade-school math word problems, 7,473 train and 1,319 test.

Rows have ``question`` and ``answer``; the answer is a worked solution whose last line is ``#### <number>``.
The gold ``answer`` column is that number with thousands separators removed (``"#### 1,200"`` -> ``"1200"``);
the full solution (with its ``<<48/2=24>>`` calculator notes) is kept in ``extra["solution"]``.

Where the data comes from (first match wins):

1. the ``path_or_name`` argument: a folder with ``train.jsonl`` and ``test.jsonl``, one ``.jsonl`` file
   (it then serves every split, so keep train and test in a folder to keep them apart), or the Hub
   name ``openai/gsm8k`` (needs the ``datasets`` package and a network);
2. the environment variable ``MINIRL_GSM8K`` (same forms);
3. the folder ``../shared/data/gsm8k``, looked up relative to the current working directory, then
   relative to the repository root (the folder holding the ``minirl`` package);
4. the Hub name ``openai/gsm8k``.

Relative paths are resolved the same way (working directory first, then repository root).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from minirl.tasks.base import DataError, Example, Task, check_n, check_split

HUB_NAME = "openai/gsm8k"
ENV_VAR = "MINIRL_GSM8K"
SHARED_DIR = Path("..") / "shared" / "data" / "gsm8k"
REPO_ROOT = Path(__file__).resolve().parents[2]


def gsm8k_final_answer(solution: str) -> str | None:
    """The final answer of a GSM8K reference solution: what follows its last ``####``, commas removed, or ``None``.

    Strict, for loading the dataset: a solution without the marker is a data error. (To read a gold answer in any
    form, a bare value, a GSM8K solution or a ``\\boxed{}``, for a reward: :func:`rewards.parse_gold`.)

    >>> gsm8k_final_answer("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\\n#### 1,200")
    '1200'
    >>> gsm8k_final_answer("no marker") is None
    True
    """
    if "####" not in solution:
        return None
    gold = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return gold or None


def row_to_example(row: Any, where: str) -> Example:
    """Turn one ``{"question", "answer"}`` row into an :class:`Example`; ``where`` names it in errors."""
    if not isinstance(row, dict):
        raise DataError(
            f"{where}: expected a JSON object with 'question' and 'answer', got {type(row).__name__}"
        )
    for field in ("question", "answer"):
        if not isinstance(row.get(field), str) or not row[field].strip():
            raise DataError(f"{where}: missing or empty string field {field!r} (row keys: {sorted(row)})")
    gold = gsm8k_final_answer(row["answer"])
    if gold is None:
        raise DataError(
            f"{where}: the 'answer' field has no final answer after '####': {row['answer'][-80:]!r}"
        )
    return Example(row["question"].strip(), gold, {"solution": row["answer"]})


def read_jsonl(path: str | Path) -> list[Example]:
    """Read GSM8K-style rows from a ``.jsonl`` file; errors name the file and the 1-based line number."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue  # tolerate blank lines, e.g. a trailing one
            where = f"{path}, line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") from None
            out.append(row_to_example(row, where))
    if not out:
        raise DataError(f"{path}: no rows found")
    return out


def _existing(path: str | Path) -> Path | None:
    """``path`` if it exists as given (cwd-relative when relative), else under the repository root."""
    p = Path(path).expanduser()
    if p.exists():
        return p.resolve()
    if not p.is_absolute() and (REPO_ROOT / p).exists():
        return (REPO_ROOT / p).resolve()
    return None


def _looked_in(path: str | os.PathLike) -> str:
    """Where a relative ``path`` was looked for, each folder once (nothing for an absolute path)."""
    if Path(path).expanduser().is_absolute():
        return ""
    folders = dict.fromkeys(str(f) for f in (Path.cwd(), REPO_ROOT))
    return " in " + " nor in ".join(folders)


def resolve_source(path_or_name: str | os.PathLike | None = None) -> Path | str:
    """Where GSM8K is read from: an existing local path, or the Hub name (see the module docstring).

    A given source that is neither an existing path nor the Hub name raises a ``ValueError``.
    """
    given = path_or_name if path_or_name is not None else os.environ.get(ENV_VAR) or None
    if given is None:
        return _existing(SHARED_DIR) or HUB_NAME
    if str(given) == HUB_NAME:
        return HUB_NAME
    found = _existing(given)
    if found is None:
        origin = f"${ENV_VAR}" if path_or_name is None else "path_or_name"
        raise DataError(
            f"GSM8K source {str(given)!r} (from {origin}) not found{_looked_in(given)}. "
            f"Pass a folder with train.jsonl/test.jsonl, a .jsonl file, or {HUB_NAME!r}."
        )
    return found


class GSM8KTask(Task):
    """GSM8K word problems, read once per split and cached.

    ``examples(split, n)`` returns the first ``n`` rows in file order (``seed`` is accepted for interface
    compatibility and ignored: a fixed order keeps evaluations comparable; the trainer shuffles itself).

    Args:
        path_or_name: folder, ``.jsonl`` file or ``"openai/gsm8k"``; ``None`` finds a default (module docstring).
    """

    name = "gsm8k"

    def __init__(self, path_or_name: str | os.PathLike | None = None) -> None:
        self.source = resolve_source(path_or_name)
        self.default_rewards = {"accuracy": 1.0, "format": 1.0, "tag_count": 0.5}
        self._cache: dict[str, list[Example]] = {}
        # Our own problem in GSM8K style (not from either split), so the prompt leaks no test problem.
        self.few_shot = Example(
            "A baker makes 24 muffins. She sells 3 boxes with 6 muffins each. How many muffins are left?",
            "6",
            {"solution": "She sells 3 * 6 = <<3*6=18>>18 muffins.\n24 - 18 = <<24-18=6>>6 are left.\n#### 6"},
            worked_reasoning="She sells 3 boxes * 6 muffins = 18 muffins. 24 - 18 = 6 muffins are left.",
        )

    def _load(self, split: str) -> list[Example]:
        if split in self._cache:
            return self._cache[split]
        src = self.source
        if isinstance(src, str):
            rows = _load_hub(split)
        elif src.is_dir():
            file = src / f"{split}.jsonl"
            if not file.exists():
                raise DataError(
                    f"GSM8K folder {src} has no {split}.jsonl (expected train.jsonl and test.jsonl)."
                )
            rows = read_jsonl(file)
        else:
            rows = read_jsonl(src)
        self._cache[split] = rows
        return rows

    def examples(self, split: str, n: int | None = None, seed: int = 0) -> list[Example]:
        """The first ``n`` problems of ``split`` in file order (all of them for ``n=None``)."""
        check_split(split)
        check_n(n)
        rows = self._load(split)
        return list(rows if n is None else rows[:n])

    def __repr__(self) -> str:
        return f"GSM8KTask({str(self.source)!r})"


def _load_hub(split: str) -> list[Example]:
    """Rows of ``openai/gsm8k`` (config ``main``) via ``datasets``, imported here so the package works without it."""
    advice = (
        f"Pass a local copy instead: GSM8KTask('/path/to/gsm8k') with train.jsonl and test.jsonl, "
        f"or set {ENV_VAR}."
    )
    try:
        from datasets import load_dataset

        data = load_dataset(HUB_NAME, "main", split=split)
    except ImportError as err:
        raise DataError(
            f"Loading {HUB_NAME} from the Hub needs the 'datasets' package ({err}). {advice}"
        ) from err
    except Exception as err:  # offline, hub down, auth... all mean the same thing to the user
        raise DataError(
            f"Could not load {HUB_NAME} from the Hub ({type(err).__name__}: {err}). {advice}"
        ) from err
    return [row_to_example(row, f"{HUB_NAME} {split} row {i}") for i, row in enumerate(data)]
