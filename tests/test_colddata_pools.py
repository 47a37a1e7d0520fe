"""The cold-start pools are a fixed function of (task, examples, config, seed): digests of pools made at main.

Refactors of the pool code (``minirl.r1.s1_pool``, ``minirl.colddata`` before, ``minirl/sft/colddata.py`` before
that) must keep every byte of every record. The digests below were made with ``python tests/test_colddata_pools.py``
at main e2ea11a (the script prints the digest of each pool; run it at any commit to compare).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from pathlib import Path

import pytest

GSM8K_FIXTURE = Path(__file__).resolve().parent / "data" / "gsm8k"
GSM8K_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"  # skipped where absent

# name -> (task name, task settings, n, pool config settings (None = make_clean), seed)
SPECS: dict[str, tuple[str, dict, int, dict | None, int]] = {
    "arith_default": ("arithmetic", {}, 100, {}, 0),
    "arith_default_seed3": ("arithmetic", {}, 100, {}, 3),
    "arith_counting": ("arithmetic", {}, 60, {"mixed_language": 0.5, "mixed_strategy": "counting"}, 0),
    "arith_3x2_all_ops": ("arithmetic", {"num_terms": 3, "max_digits": 2, "ops": "+-*"}, 100, {}, 0),
    "arith_4x1_all_ops_wrong_mixed": (
        "arithmetic",
        {"num_terms": 4, "max_digits": 1, "ops": "+-*"},
        80,
        {"mixed_traces_correct": False},
        1,
    ),
    "arith_2digit_counting": (
        "arithmetic",
        {"max_digits": 2},
        40,
        {
            "mixed_language": 1.0,
            "code_in_reasoning": 0.0,
            "broken_tags": 0.0,
            "wrong_answer": 0.0,
            "repetition": 0.0,
            "duplicate": 0.0,
            "mixed_strategy": "counting",
        },
        0,
    ),
    "arith_products": ("arithmetic", {"ops": "*", "max_digits": 2}, 50, {}, 2),
    "arith_clean": ("arithmetic", {"num_terms": 3, "max_digits": 2, "ops": "+-*"}, 50, None, 0),
    "language_mixing_cpu_recipe": (
        "arithmetic",
        {"num_terms": 2, "max_digits": 1},
        160,
        {
            "mixed_language": 0.4,
            "mixed_strategy": "counting",
            "code_in_reasoning": 0.05,
            "broken_tags": 0.15,
            "wrong_answer": 0.15,
            "repetition": 0.1,
            "duplicate": 0.05,
        },
        0,
    ),
    "countdown_4": ("countdown", {"num_numbers": 4}, 100, {}, 0),
    "countdown_3_clean": ("countdown", {}, 40, None, 5),
    "gsm8k_fixture": ("gsm8k", {"path": str(GSM8K_FIXTURE)}, 20, {}, 0),
    "gsm8k_fixture_wrong_mixed": (
        "gsm8k",
        {"path": str(GSM8K_FIXTURE)},
        20,
        {"mixed_traces_correct": False},
        4,
    ),
    "gsm8k_shared": ("gsm8k", {"path": str(GSM8K_SHARED)}, 200, {}, 0),
}

DIGESTS: dict[str, str] = {
    "arith_2digit_counting": "3cd950b4fbc03ad37809fd38deffb302515179c37c0ec2ba37ce31accceeea14",
    "arith_3x2_all_ops": "d6f680eb1ccc4403ecb75454ec3d1b5d73c8e07ff8ff09e53b8c5b3098e6360b",
    "arith_4x1_all_ops_wrong_mixed": "a919de7aceb7d4b900ad58da4840240f408d5956334119cf1a54942c67bd5257",
    "arith_clean": "c030084c890ab23abafe17f7fa7440dafaa1ef35fd7d28cb695f1972452927eb",
    "arith_counting": "2321d5060618721b31984225627214cf97c08ffb1619341997879e99fad837d0",
    "arith_default": "ef038d022fcd3ebfac46330889257fd77d5ac32dcc0f64d8a4de260d77820e15",
    "arith_default_seed3": "4eb5d4ef4e4981731a461e06e65d3024f78bfabab9ea4e518bec22813968711b",
    "arith_products": "645c619215e58215dcb957c50d6656b3d2d33cddcda4345137572b28627fe7ab",
    "countdown_3_clean": "44fc3aa0ab538377c32cc87ead016a0f9bf494ad232eac8de9e82752d5b64faa",
    "countdown_4": "d4e31f71174b52a712431c42fd255e02f15d2f80f126e8959bfe17bfd297158e",
    "gsm8k_fixture": "213a10fbe6534e36a8b01cf1102d26504fd928e5fc7ebd37ed9ce429f2ec9e85",
    "gsm8k_fixture_wrong_mixed": "bf3cd65b69b4ad271b4bb8adeee861e3b6af2a873bd789134ae1cd871b329dc4",
    "gsm8k_shared": "fe26c325938c59b4e7f1846a89ec9b6e6f1aabb0e433a7330999a2c36923e025",
    "language_mixing_cpu_recipe": "f62cf095bef0bba8bdac036210317c070f0d3b3dc9af2e2c18c3cc3ba140e87a",
}

# Where the pool code lived, newest first, so that the script runs at older commits too.
POOL_MODULES = ("minirl.r1.s1_pool", "minirl.colddata", "minirl.sft")


def pool_digest(name: str) -> str:
    """SHA-256 of the JSON of the pool ``SPECS[name]`` describes."""
    for where in POOL_MODULES:
        try:
            pools = importlib.import_module(where)
            break
        except ImportError:
            continue
    from minirl.tasks import get_task

    task_name, settings, n, config, seed = SPECS[name]
    task = get_task(task_name, **settings)
    examples = task.examples("train", n=n, seed=0)
    pool = (
        pools.make_clean(task, examples, seed=seed)
        if config is None
        else pools.make_pool(task, examples, pools.PoolConfig(**config), seed)
    )
    return hashlib.sha256(json.dumps(pool, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_pool_is_byte_identical_to_the_recorded_one(name):
    if SPECS[name][1].get("path") == str(GSM8K_SHARED) and not (GSM8K_SHARED / "train.jsonl").exists():
        pytest.skip(f"GSM8K not found at {GSM8K_SHARED}")
    assert pool_digest(name) == DIGESTS[name], f"the {name} pool changed"


if __name__ == "__main__":
    for spec in sys.argv[1:] or sorted(SPECS):
        print(f'    "{spec}": "{pool_digest(spec)}",')
