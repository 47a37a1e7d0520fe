"""Import hygiene: the rewards package is torch-free; the GRPO training path needs neither trl nor datasets
(the lent GPU machine has neither)."""

from __future__ import annotations

import subprocess
import sys

from minirl.testing import HANG_TIMEOUT_S


def _loaded(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_rewards_imports_without_torch_or_transformers():
    code = "import rewards, sys; print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    assert _loaded(code) == "[]"


def test_training_path_needs_no_trl_or_datasets():
    code = (
        "import sys\n"
        "import minirl.trainer, minirl.eval.runner, minirl.diagnostics, minirl.models, minirl.tasks\n"
        "print(sorted(m for m in ('trl', 'datasets') if m in sys.modules))"
    )
    assert _loaded(code) == "[]"


STAGES = {  # an R1 stage imports earlier stages only (and never the orchestration in minirl.pipeline)
    "minirl.colddata": (
        "minirl.curation",
        "minirl.sft",
        "minirl.trainer",
        "minirl.rejection",
        "minirl.pipeline",
    ),
    "minirl.curation": (
        "minirl.colddata",
        "minirl.sft",
        "minirl.trainer",
        "minirl.rejection",
        "minirl.pipeline",
    ),
    "minirl.sft": (
        "minirl.colddata",
        "minirl.curation",
        "minirl.trainer",
        "minirl.rejection",
        "minirl.pipeline",
    ),
    "minirl.trainer": (  # RL (stage 4) knows nothing of how its starting model was made
        "minirl.colddata",
        "minirl.curation",
        "minirl.sft",
        "minirl.rejection",
        "minirl.pipeline",
    ),
    "minirl.rejection": ("minirl.colddata", "minirl.trainer", "minirl.pipeline"),
}


def test_r1_stages_import_only_what_comes_before_them():
    for module, later in STAGES.items():
        code = f"import sys, {module}; print(sorted(m for m in {later!r} if m in sys.modules))"
        assert _loaded(code) == "[]", module
