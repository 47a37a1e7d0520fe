"""`rewards` from the outside: it stays torch-free, and its functions plug into TRL's GRPOTrainer unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rewards
from minirl.testing import HANG_TIMEOUT_S

ROOT = Path(__file__).resolve().parents[1]
SUBMODULES = [
    "rewards._numbers",
    "rewards._text",
    "rewards.accuracy",
    "rewards.countdown",
    "rewards.formatting",
    "rewards.language",
    "rewards.penalties",
    "rewards.registry",
]


def test_import_is_torch_free():
    assert {p.stem for p in (ROOT / "rewards").glob("*.py")} - {"__init__"} == {
        m.split(".")[1] for m in SUBMODULES
    }
    code = (
        "import sys, importlib\n"
        f"for name in ['rewards', *{SUBMODULES!r}]: importlib.import_module(name)\n"
        "import rewards\n"
        "rewards.accuracy_reward(['<answer>1</answer>'], answer=['1'])\n"
        "rewards.language_consistency_reward(['<think>hi there</think>'])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'numpy', 'sympy', 'math_verify', 'py3langid') "
        "if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=HANG_TIMEOUT_S
    )
    assert proc.returncode == 0, proc.stderr


def test_grpo_trainer_one_step(tiny_model, tiny_tokenizer, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    data = Dataset.from_dict(
        {
            "prompt": ["What is 2+2?", "What is 3+3?", "What is 1+1?", "What is 5+5?"],
            "answer": ["#### 4", "#### 6", "#### 2", "#### 10"],
        }
    )
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=1,
        bf16=False,
        use_cpu=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=tiny_model,
        reward_funcs=[rewards.accuracy_reward, rewards.format_reward],
        args=args,
        train_dataset=data,
        processing_class=tiny_tokenizer,
    )
    trainer.train()
    assert trainer.state.global_step == 1
    logged = {key for entry in trainer.state.log_history for key in entry}
    # Callable instances log under their __name__, functions under their function name.
    assert {"rewards/accuracy_reward/mean", "rewards/format_reward/mean", "reward"} <= logged
