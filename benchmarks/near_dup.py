"""The near-duplicate filter of curation (``minirl.r1.s2_curate.NearDuplicateFilter``) against one built on
``datasketch`` (``MinHash`` + ``MinHashLSH``), on the R1 recipe's cold-start pool.

Both sides use character 5-grams of the normalized question + completion, 64 hashes in 8 bands of 8 rows, and verify
each LSH candidate with the exact Jaccard, so the decision rule is the same ("similarity >= threshold with a kept
record"); they can only differ where one side's LSH misses a pair at or above the threshold. Measured:

- decisions: the records each drops, over the whole pool (every record checked, kept ones remembered) and inside
  :func:`~minirl.r1.s2_curate.curate` with the default filters (where only what the earlier filters kept arrives);
- time: best of ``--repeats`` of the process's CPU time for one pass over the pool (``time.process_time``);
- memory: the ``tracemalloc`` peak of one pass (Python and numpy allocations), and what ``import datasketch`` adds
  to the process (RSS and seconds; it imports scipy).

    python benchmarks/near_dup.py                      # the recipe's pool: 200 arithmetic problems
    python benchmarks/near_dup.py --n 5000 --task countdown

Needs ``pip install datasketch`` (not a minirl dependency).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minirl.cli import run_main  # noqa: E402
from minirl.config_checks import _check, at_least  # noqa: E402
from minirl.config_parse import parse_fields  # noqa: E402
from minirl.r1.s1_pool import PoolConfig, make_pool  # noqa: E402
from minirl.r1.s2_curate import NearDuplicateFilter, curate, default_filters, shingles  # noqa: E402
from minirl.tasks import get_task, task_names  # noqa: E402

RECIPE_TASK_ARGS = {"arithmetic": {"num_terms": 2, "max_digits": 2, "ops": "+-"}}
"""``data.task_args`` of ``recipes/configs/r1_smollm2_cpu.yaml`` (other tasks: their defaults)."""


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class DatasketchFilter(NearDuplicateFilter):
    """:class:`NearDuplicateFilter`'s interface and decision rule, with datasketch's MinHash and LSH index."""

    def reset(self) -> None:
        from datasketch import MinHashLSH

        self._lsh = MinHashLSH(num_perm=self.bands * self.rows, params=(self.bands, self.rows))
        self._kept_sets: list[set[str]] = []
        self._exact: set[str] = set()

    def _minhash(self, grams: set[str]):
        from datasketch import MinHash

        m = MinHash(num_perm=self.bands * self.rows, seed=1)
        m.update_batch([g.encode("utf-8", "surrogatepass") for g in grams])
        return m

    def __call__(self, record) -> bool:
        text = self._text(record)
        grams = shingles(text, self.k)
        for idx in self._lsh.query(self._minhash(grams)):
            other = self._kept_sets[idx]
            if len(grams & other) / len(grams | other) >= self.threshold:
                return False
        return True

    def add(self, record) -> None:
        grams = shingles(self._text(record), self.k)
        self._kept_sets.append(grams)
        self._lsh.insert(len(self._kept_sets) - 1, self._minhash(grams))


def one_pass(dedup: NearDuplicateFilter, pool: list[dict]) -> list[int]:
    """Check every record in order, remember the kept ones; the indices dropped."""
    dedup.reset()
    dropped = []
    for i, record in enumerate(pool):
        if dedup(record):
            dedup.add(record)
        else:
            dropped.append(i)
    return dropped


def measure(dedup: NearDuplicateFilter, pool: list[dict], repeats: int) -> dict:
    dropped = one_pass(dedup, pool)  # warm-up (lazy imports)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        one_pass(dedup, pool)
        best = min(best, time.process_time() - start)
    tracemalloc.start()
    one_pass(dedup, pool)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"dropped": dropped, "seconds": best, "peak_mb": peak / 2**20}


def in_curate(dedup: NearDuplicateFilter, pool: list[dict]) -> tuple[list[int], int]:
    filters = [(n, f) for n, f in default_filters() if n != "near_duplicate"] + [("near_duplicate", dedup)]
    kept, report = curate(pool, filters)
    ids = {id(r): i for i, r in enumerate(pool)}
    return [ids[id(r)] for r in kept], report.dropped["near_duplicate"]


@dataclass
class NearDupArgs:
    """The near-duplicate filter of curation against one built on datasketch, on the R1 recipe's cold-start pool."""

    task: str = "arithmetic"
    """The pool's task (``arithmetic`` with the R1 recipe's settings, or another task with its defaults)."""
    n: int = 200
    """Problems in the pool (the recipe's ``cold_start.num_examples``)."""
    seed: int = 0
    """Seed of the problems and the pool."""
    repeats: int = 3
    """Passes over the pool per side; the best CPU time counts."""

    def __post_init__(self):
        _check(self.task in task_names(), f"task must be one of {task_names()}, got {self.task!r}")
        at_least("", self, n=1, repeats=1)


def main(argv: list[str] | None = None) -> None:
    """Parse the options (as ``python -m minirl.eval``: a mistake is one ``error:`` line, exit 2) and measure."""
    run_main(measure_both, sys.argv[1:] if argv is None else argv)


def measure_both(argv: list[str]) -> None:
    """Build the pool, run both filters over it and print the comparison."""
    args = parse_fields(NearDupArgs, argv)

    task = get_task(args.task, **RECIPE_TASK_ARGS.get(args.task, {}))
    pool = make_pool(task, task.examples("train", n=args.n, seed=args.seed), PoolConfig(), seed=args.seed)
    kinds: dict[str, int] = {}
    for r in pool:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"pool: {len(pool)} {args.task} records, seed {args.seed}, kinds {kinds}")

    rss, start = _rss_mb(), time.process_time()
    try:
        import datasketch
    except ModuleNotFoundError:
        sys.exit(
            "error: this benchmark needs datasketch, which minirl does not depend on: pip install datasketch"
        )

    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"import datasketch {datasketch.__version__}: +{_rss_mb() - rss:.1f} MB RSS, "
        f"{time.process_time() - start:.2f} CPU s (max RSS now {max_rss:.0f} MB)"
    )

    sides = {"minirl": NearDuplicateFilter(), "datasketch": DatasketchFilter()}
    results = {name: measure(f, pool, args.repeats) for name, f in sides.items()}
    curated = {name: in_curate(f, pool) for name, f in sides.items()}
    print(
        "\n| side | dropped (whole pool) | CPU s per pass | ms per record | tracemalloc peak MB | dropped in curate |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {len(r['dropped'])} | {r['seconds']:.3f} | {1000 * r['seconds'] / len(pool):.3f} | "
            f"{r['peak_mb']:.1f} | {curated[name][1]} |"
        )
    a, b = (set(results[s]["dropped"]) for s in sides)
    print(
        f"\nwhole pool: same drops {a == b} (only minirl: {sorted(a - b)[:10]}, only datasketch: {sorted(b - a)[:10]})"
    )
    print(f"curate: same kept records {curated['minirl'][0] == curated['datasketch'][0]}")
    dup_kinds: dict[str, int] = {}
    for i in a:
        dup_kinds[pool[i]["kind"]] = dup_kinds.get(pool[i]["kind"], 0) + 1
    print(f"kinds dropped by minirl's filter over the whole pool: {dup_kinds}")


if __name__ == "__main__":
    main()
