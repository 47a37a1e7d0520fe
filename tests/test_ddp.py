"""Scale-out does not change the math: one GRPO step on 2 CPU processes (1 prompt each) gives the weights of 1 process
with the same 2 prompts, for every loss type, with dynamic sampling (uneven rows per process), with batch-std
advantages, and with gradient accumulation. The runs are tests/ddp_step.py with fixed rollouts and SGD."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from minirl.grpo import LOSS_TYPES
from minirl.testing import make_tiny_model, make_tiny_tokenizer, run_or_dump

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "ddp_step.py"

# loss_type:scale_rewards:dynamic_sampling:micro_batch_size (0 = whole):prompts per step (over all processes)
PLAIN = [f"{lt}:group:0:0:2" for lt in LOSS_TYPES]
ACCUM = [f"{lt}:group:0:2:2" for lt in LOSS_TYPES]  # 2-row micro-batches: 4 on one process, 2 on each of two
DYNAMIC = [
    f"{lt}:group:1:0:4" for lt in LOSS_TYPES
]  # one zero-variance group: 1 and 2 groups kept per process
CASES = PLAIN + ACCUM + DYNAMIC + ["grpo:batch:0:0:2"]


def _run(cmd: list[str], out: Path) -> dict[str, tuple[dict, dict]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = run_or_dump([*cmd, str(SCRIPT), "--out", str(out), *CASES], env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {}
    for case in CASES:
        name = case.replace(":", "_")
        results[case] = (
            load_file(str(out / f"{name}.safetensors")),
            json.loads((out / f"{name}.json").read_text()),
        )
    return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    one = _run([sys.executable], tmp_path_factory.mktemp("one"))
    # torchrun: `accelerate launch --cpu --num_processes 2` starts ONE process without an MPI hostfile
    two = _run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
        tmp_path_factory.mktemp("two"),
    )
    return one, two


def _max_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _moved(weights: dict) -> float:
    init = dict(make_tiny_model(len(make_tiny_tokenizer()), seed=0).named_parameters())
    return max(float((weights[k] - init[k].detach()).abs().max()) for k in weights)


@pytest.mark.parametrize("case", CASES)
def test_two_processes_train_like_one(runs, case):
    (w1, m1), (w2, m2) = runs[0][case], runs[1][case]
    assert (m1["num_processes"], m2["num_processes"]) == (1, 2)
    assert _moved(w1) > 1e-2  # the step trained: a wrong normaliser would show
    assert _max_diff(w1, w2) < 1e-5, case
    assert m2["loss"] == pytest.approx(m1["loss"], abs=1e-6)  # the logged loss is the whole batch's too
    assert m2["kept_frac"] == m1["kept_frac"]


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_gradient_accumulation_equals_one_micro_batch(runs, loss_type):
    one, two = runs
    whole, accumulated = one[f"{loss_type}:group:0:0:2"], one[f"{loss_type}:group:0:2:2"]
    assert _max_diff(whole[0], accumulated[0]) < 1e-5
    assert accumulated[1]["loss"] == pytest.approx(whole[1]["loss"], abs=1e-6)
    assert _max_diff(whole[0], two[f"{loss_type}:group:0:2:2"][0]) < 1e-5  # both at once
