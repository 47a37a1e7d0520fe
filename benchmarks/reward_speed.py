"""Per-sample time of every registered reward on adversarial completions (100 KB of tags, a million digits, ...).

The rewards package promises linear scans and capped parsing, with a target of 50 ms per sample (rewards/README.md,
"Robustness"). This benchmark checks that target; the test suite (tests/test_rewards_robustness.py) runs the same
inputs with a 10x bound, on CPU time, so that a loaded machine cannot fail it.

    python benchmarks/reward_speed.py          # prints the worst time per reward; exit code 1 over the target

Times are the best of ``repeats`` runs of the process's CPU time (``time.process_time``): other processes on the
machine do not count, and one-off pauses (a page fault, the garbage collector) are dropped by the minimum.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rewards  # noqa: E402

TARGET_S = 0.05

_rng = random.Random(0)
ADVERSARIAL = {
    "nested parens": "<answer>" + "(" * 100_000 + "</answer>",
    "power tower": "<answer>9**9**9**9</answer>",
    "latex power tower": "<answer>9^{9^{9^{9}}}</answer>",
    "factorial": "<answer>100000!</answer>",
    "million digits": "<answer>" + "9" * 1_000_000 + "</answer>",
    "huge exponent": "<answer>1e999999999</answer>",
    "think tags": "<think>" * 15_000,
    "all tags": "<think></think><answer></answer>" * 3_000,
    "open boxes": "<answer>" + "\\boxed{" * 14_000 + "</answer>",
    "braces": "<answer>" + "{" * 50_000 + "}" * 50_000 + "</answer>",
    "open fracs": "<answer>" + "\\frac{" * 16_000 + "</answer>",
    "surrogates": "\ud800\udfff" * 50_000,
    "binary junk": bytes(_rng.randrange(256) for _ in range(100_000)).decode("latin-1"),
    "snake": "a_" * 50_000,
    "dotted": "a." * 50_000 + "(",
    "code lines": "for x in y:\n" * 8_000,
    "keyword no colon": "if " + "=" * 100_000,
    "assignment": "x" * 100_000 + " = [",
    "fences": "```" * 33_000,
    "backticks": "`a` " * 25_000,
    "newlines": "\n" * 100_000,
    "han": "数" * 100_000,
    "words": "word " * 20_000,
    "one long word": "a" * 100_000,
    "countdown nesting": "<answer>" + "(" * 150 + "1" + ")" * 150 + "</answer>",
    "countdown long": "<answer>" + "1+" * 50_000 + "1</answer>",
}
KWARGS = {"answer": ["\\sqrt{2}"], "nums": [[1, 2, 3]], "target": [6]}


def time_rewards(
    names: list[str] | None = None,
    repeats: int = 3,
    clock: Callable[[], float] = time.process_time,
) -> dict[tuple[str, str], tuple[float, float | None]]:
    """``{(reward, input label): (best seconds of `repeats`, the reward's value)}`` over :data:`ADVERSARIAL`."""
    funcs = {name: rewards.get(name) for name in names or rewards.names()}
    for fn in funcs.values():  # warm up: lazy imports (math-verify, sympy) are not per-sample cost
        fn(["<answer>x^2</answer>"], **KWARGS)
    out = {}
    for label, text in ADVERSARIAL.items():
        for name, fn in funcs.items():
            best, value = float("inf"), None
            for _ in range(repeats):
                start = clock()
                value = fn([text], **KWARGS)[0]
                best = min(best, clock() - start)
            out[(name, label)] = (best, value)
    return out


def worst(times: dict[tuple[str, str], tuple[float, float | None]]) -> dict[str, tuple[float, str]]:
    """The slowest input of each reward: ``{reward: (seconds, input label)}``."""
    result: dict[str, tuple[float, str]] = {}
    for (name, label), (seconds, _) in times.items():
        result[name] = max(result.get(name, (0.0, "")), (seconds, label))
    return result


def table(slowest: dict[str, tuple[float, str]], target: float = TARGET_S) -> str:
    """One line per reward: its worst time and the input that caused it."""
    lines = [f"worst per-sample CPU time per reward (target {target * 1000:.0f} ms):"]
    for name, (seconds, label) in slowest.items():
        flag = "  OVER TARGET" if seconds > target else ""
        lines.append(f"  {name:22s} {seconds * 1000:7.1f} ms  ({label}){flag}")
    return "\n".join(lines)


def main() -> int:
    """Print the table; 1 when a reward is over :data:`TARGET_S` on some input."""
    slowest = worst(time_rewards())
    print(table(slowest))
    return int(any(seconds > TARGET_S for seconds, _ in slowest.values()))


if __name__ == "__main__":
    raise SystemExit(main())
