"""benchmarks/same_steps.py --compare: metrics logged at some steps only are compared where both runs have them."""

from __future__ import annotations

import json

import torch
from safetensors.torch import save_file

from benchmarks.same_steps import compare


def _run(path, metrics, weight):
    save_file({"w": torch.tensor([weight, 1.0])}, str(path), metadata={"metrics": json.dumps(metrics)})
    return path


def test_compare_takes_metrics_present_at_some_steps(tmp_path):
    a = _run(tmp_path / "a.safetensors", [{"loss": 1.0, "ways/none/accuracy": 0.5}, {"loss": 2.0}], 3.0)
    b = _run(
        tmp_path / "b.safetensors", [{"loss": 1.0, "ways/none/accuracy": 0.25}, {"loss": 2.5, "kl": 1.0}], 3.5
    )
    out = compare(a, b)
    assert out["metrics_max_abs_diff"] == {"loss": 0.5, "ways/none/accuracy": 0.25}
    assert out["only_in_one"] == ["step 2: kl"]
    assert out["weights_max_abs_diff"] == 0.5 and out["weights_max"] == 3.0
