"""The recipes' command lines: a user's mistake ends with ``error: <what to do>`` and exit code 2, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minirl.testing import HANG_TIMEOUT_S

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("recipe", "args", "says"),
    [
        ("r1_zero.py", ["--rollout.num_generations", "1"], "num_generations"),
        ("language_mixing.py", ["--mixing.arms", "uncurated,bogus"], "unknown arm"),
        ("r1.py", ["--config", "no/such/config.yaml"], "no/such/config.yaml"),
    ],
)
def test_recipe_user_error_exits_2_with_a_message(recipe, args, says, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(ROOT / "recipes" / recipe), "--run.output_dir", str(tmp_path / "run"), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_TIMEOUT_S, env=env, cwd=ROOT)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.startswith("error: ") and says in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()  # nothing was started


def test_bug_keeps_its_traceback():
    from minirl.cli import run_main

    def broken(argv):
        raise KeyError("a bug, not a user mistake")

    with pytest.raises(KeyError):
        run_main(broken)


def test_run_main_tears_down_the_process_group_a_recipe_left_open(tmp_path):
    """A one-process gloo group stands in for ``accelerate launch``'s: after main returns it is destroyed."""
    import torch.distributed as dist

    from minirl.cli import run_main

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        assert run_main(lambda argv: dist.is_initialized()) is True  # open while main runs
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
