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
        ("language_mixing.py", ["--mixing.arms", "[uncurated,bogus]"], "unknown arm"),
        ("r1.py", ["--config", "no/such/config.yaml"], "no/such/config.yaml"),
        (
            "r1_zero.py",
            ["--run.max_stepz", "3"],
            "unrecognized arguments: --run.max_stepz 3",
        ),  # jsonargparse's
    ],
)
def test_recipe_user_error_exits_2_with_a_message(recipe, args, says, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(ROOT / "recipes" / recipe), "--run.output_dir", str(tmp_path / "run"), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_TIMEOUT_S, env=env, cwd=ROOT)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.startswith("error: ") and says in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr[-2000:]
    assert not (tmp_path / "run").exists()  # nothing was started


def test_bug_keeps_its_traceback():
    from minirl.cli import run_main

    def broken(argv):
        raise KeyError("a bug, not a user mistake")

    with pytest.raises(KeyError):
        run_main(broken)


def _gloo_threads() -> list[str]:
    names = [
        (Path("/proc/self/task") / t / "comm").read_text().strip() for t in os.listdir("/proc/self/task")
    ]
    return [n for n in names if "gloo" in n]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="thread names from /proc (Linux)")
def test_run_main_ends_the_process_group_and_its_threads(tmp_path):
    """A one-process gloo group stands in for ``accelerate launch``'s; main leaves a DDP-wrapped model in a reference
    cycle, as a finished trainer does. After run_main the group is gone and so are gloo's threads, which left to the
    interpreter's exit can abort a rank."""
    import torch
    import torch.distributed as dist

    from minirl.cli import run_main

    seen = {}

    def main(argv):
        seen["open"] = dist.is_initialized()
        holder = {"model": torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))}
        holder["self"] = holder  # a cycle: freed only by the garbage collector
        seen["threads"] = _gloo_threads()
        return holder

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        run_main(main)
        assert seen["open"] and seen["threads"]  # the group and its threads were there while main ran
        assert not dist.is_initialized()
        assert _gloo_threads() == []
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _gsm8k_folder(folder: Path, second_line: str) -> Path:
    good = '{"question": "What is 2 + 3?", "answer": "2 + 3 = 5\\n#### 5"}\n'
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"{split}.jsonl").write_text(good + second_line + "\n")
    return folder


@pytest.mark.parametrize(
    ("second_line", "says"),
    [
        (None, "not found"),  # the path does not exist
        ('{"question": "broken', "train.jsonl, line 2: invalid JSON"),
        ('{"question": "What is 1 + 1?"}', "train.jsonl, line 2: missing or empty string field 'answer'"),
        ('{"question": "What is 1 + 1?", "answer": "2"}', "line 2: the 'answer' field has no final answer"),
    ],
)
def test_bad_data_is_one_line_with_file_line_and_field(second_line, says, tmp_path):
    """A data path that is not there, a broken JSONL line, a row without its gold field: one line, exit 2."""
    data = tmp_path / "nowhere" if second_line is None else _gsm8k_folder(tmp_path / "gsm8k", second_line)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(ROOT / "recipes" / "r1_zero.py"), "--run.output_dir", str(tmp_path / "run"),
           "--data.task", "gsm8k", "--data.task_args", f"{{path: {data}}}"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_TIMEOUT_S, env=env, cwd=ROOT)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.startswith("error: ") and says in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr[-2000:]
    assert str(ROOT) not in out.stderr.split("not found")[-1]


def test_only_a_missing_optional_package_is_a_user_error():
    from minirl.cli import run_main

    def needs_vllm(argv):
        raise ModuleNotFoundError("rollout.engine=vllm needs vLLM: pip install vllm", name="vllm")

    def stale_import(argv):
        raise ModuleNotFoundError("No module named 'minirl.renamed'", name="minirl.renamed")

    def typo(argv):
        raise ModuleNotFoundError("No module named 'transformerz'", name="transformerz")

    def needs_py3langid(argv):
        raise ModuleNotFoundError("No module named 'py3langid.langid'", name="py3langid.langid")

    for needs_a_package in (needs_vllm, needs_py3langid):
        with pytest.raises(SystemExit) as stop:
            run_main(needs_a_package)
        assert stop.value.code == 2
    for bug in (stale_import, typo):  # a bug of ours keeps its traceback, also for a package not on the list
        with pytest.raises(ModuleNotFoundError):
            run_main(bug)
