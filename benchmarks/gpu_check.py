"""The GPU check: everything a first session on a GPU machine should run, in one command (its expected time:
docs/benchmarks.md, section On a GPU).

    python benchmarks/gpu_check.py --out_dir "$OUT"          # on the GPU machine (its results come back in $OUT)
    python benchmarks/gpu_check.py --smoke true --out_dir /tmp/x  # the same stages on the CPU, tiny and fast (a test)

The project's GPU machine (the ``device`` tool) runs the working tree without installing it, under its image's
``python3`` (torch, transformers, accelerate, peft, pytest, matplotlib, PyYAML; no Hub, no package index, no TRL or
``datasets``). minirl's one missing dependency there, jsonargparse with its two helpers, is pure Python; put it in an
ignored folder here and carry it (its size: docs/benchmarks.md, section On a GPU; checked in a venv holding only
torch, transformers, accelerate, peft and pytest, plus this folder):

    pip install --no-deps --target .device_deps "jsonargparse>=4.49" docstring-parser typeshed-client
    echo /.device_deps/ >> .git/info/exclude
    # device run, carry [".device_deps"], timeout_s 600 (the stages' limits add up to 9 minutes):
    PYTHONPATH=.device_deps python3 benchmarks/gpu_check.py --out_dir "$OUT"

Stages, each in its own process with its own time limit (2, 3, 2 and 2 minutes), so that one failing does not lose
the others:

1. ``pytest -m gpu tests/test_device.py``: the ``gpu``-marked tests (trainer steps and rollout engines on CUDA; only
   that file, since others import TRL or ``datasets``, which that machine lacks). The script stops at once if
   ``--device cuda`` sees no GPU, so these cannot pass by being skipped;
2. ``recipes/r1_zero.py`` for a few steps with the Qwen2.5-0.5B architecture built from its config (random init,
   bf16 autocast over fp32 master weights, minirl's byte tokenizer: the machine has no Hub), reading step time,
   rollout tokens/s and peak GPU memory from the run's ``metrics.jsonl``;
3. ``benchmarks/rollout.py``: the rollout engines side by side with HF ``generate``;
4. ``benchmarks/step.py --minirl_only true``: minirl's GRPO step (that machine has no TRL).

Writes into ``--out_dir`` six files at most (the device tool brings back eight): ``gpu_check.json`` (every stage's
status, seconds, numbers and the last lines of its output) and a markdown table ``gpu_check.md``, both rewritten after
every stage, ``logs.txt`` (every stage's whole output), the recipe run's ``r1_zero_metrics.jsonl``, and the
benchmarks' ``rollout.json`` and ``step.json``. The checkpoint (the 494M-parameter model of ``--arch qwen2.5-0.5b`` in
fp32) and the run folder stay in ``--work_dir``. ``--smoke true`` runs stages 2-4 on the CPU with the 2-layer test model
and tiny sizes (stage 1 is CI's own test run there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from minirl.config_checks import at_least  # noqa: E402


def build_checkpoint(path: Path, smoke: bool) -> Path:
    """A random Qwen2.5-0.5B-architecture checkpoint (or, with ``smoke``, the 2-layer test model) with minirl's
    byte tokenizer, saved to ``path``."""
    from minirl.testing import save_tiny_checkpoint

    if smoke:
        return save_tiny_checkpoint(path)
    from benchmarks.common import qwen25_05b

    model, tok = qwen25_05b(seed=0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def run_stage(name: str, cmd: list[str], limit_s: int, log_dir: Path) -> dict:
    """Run ``cmd`` with a time limit; its output is added to ``log_dir/logs.txt``. Returns status, seconds, tail."""
    started = time.perf_counter()
    log = log_dir / f".{name}.log"
    print(f"[gpu_check] {name}: {' '.join(cmd)} (limit {limit_s} s)", flush=True)
    # PYTHONPATH: the GPU machine runs the working tree as it is, minirl not installed
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    try:
        with open(log, "w") as f:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=limit_s, env=env)
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        status = f"timed out after {limit_s} s"
    seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    log.unlink()
    with open(log_dir / "logs.txt", "a") as f:
        f.write(f"===== {name}: {' '.join(cmd)}\n{text}\n===== {name}: {status}\n\n")
    tail = text.splitlines()[-15:]
    print(f"[gpu_check] {name}: {status}, {seconds:.0f} s", flush=True)
    return {"status": status, "seconds": round(seconds, 1), "tail": tail}


def run_metrics(run_dir: Path) -> dict:
    """Means over the recipe run's training steps after the first (warm-up): step time, tokens/s, peak memory.

    Read with the run log's own parser, which skips a last line cut off by a stage's time limit (with a warning).
    """
    from minirl.files import read_metrics

    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return {}
    rows = read_metrics(path)
    train = [r for r in rows if r.get("type", "train") == "train"]
    timed = train[1:] or train

    def mean(key: str) -> float | None:
        vals = [r[key] for r in timed if isinstance(r.get(key), (int, float))]
        return sum(vals) / len(vals) if vals else None

    return {
        "steps": len(train),
        "step_time_s": mean("step_time"),
        "rollout_tokens_per_s": mean("tokens_per_s"),
        "peak_memory_gib": max((r["memory/peak_gib"] for r in train if "memory/peak_gib" in r), default=None),
        "completion_length": mean("completion_length/mean"),
    }


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    from benchmarks.common import machine

    return str(machine().get("cpu", "cpu"))


def table(result: dict) -> str:
    """A markdown summary of the stages and their numbers."""
    lines = [
        f"# GPU check on {result['device_name']}",
        "",
        "| stage | status | seconds | numbers |",
        "|---|---|---|---|",
    ]
    for name, stage in result["stages"].items():
        numbers = stage.get("numbers", {}).items()
        nums = ", ".join(
            f"{k} {v:.3g}" for k, v in numbers if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        lines.append(f"| {name} | {stage['status']} | {stage['seconds']} | {nums} |")
    return "\n".join(lines) + "\n"


@dataclass
class GpuCheckArgs:
    """The GPU check: everything a first session on a GPU machine should run, in one command."""

    out_dir: str | None = None
    """Where results go (None: ``$OUT``, else ``gpu_check_out``)."""
    device: str = "cuda"
    """``cuda``, or ``cpu`` (what ``smoke`` sets)."""
    smoke: bool = False
    """CPU, 2-layer model, tiny sizes: checks the script itself."""
    steps: int = 4
    """Recipe steps (the first is a warm-up)."""
    work_dir: str | None = None
    """Checkpoint and run folder (None: a new temporary folder)."""

    def __post_init__(self):
        at_least("", self, steps=1)
        self.out_dir = self.out_dir or os.environ.get("OUT", "gpu_check_out")
        if self.smoke:
            self.device = "cpu"


def main(argv: list[str] | None = None) -> dict:
    """Run the stages in order and write the summary after each."""
    from benchmarks.common import parse_options

    args = parse_options(GpuCheckArgs, argv)
    if not args.smoke:
        from benchmarks.common import check_device

        check_device(args)  # no GPU visible: stop here, not with every CUDA test skipped and "ok"
    out = Path(args.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs.txt").unlink(missing_ok=True)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="gpu_check_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    result = {
        "device": args.device,
        "device_name": device_name(args.device),
        "smoke": args.smoke,
        "stages": {},
    }

    def save() -> None:
        (out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "gpu_check.md").write_text(table(result))

    if not args.smoke:
        result["stages"]["gpu_tests"] = run_stage(
            "gpu_tests",
            [py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests/test_device.py"],
            120,
            out,
        )
        save()

    started = time.perf_counter()
    ckpt = build_checkpoint(work / "model", args.smoke)
    print(f"[gpu_check] checkpoint built in {time.perf_counter() - started:.0f} s: {ckpt}", flush=True)
    run_dir = work / "r1_zero"
    new_tokens = "8" if args.smoke else "128"
    recipe = [
        py, "recipes/r1_zero.py", "--model.name", str(ckpt), "--model.device", args.device,
        "--run.max_steps", str(args.steps), "--run.output_dir", str(run_dir), "--run.preflight", "false",
        "--eval.at_start", "false", "--eval.at_end", "false", "--checkpoint.save_model", "false",
        "--checkpoint.every", "0", "--rollout.max_new_tokens", new_tokens,
    ]  # fmt: skip
    if args.smoke:
        recipe += ["--rollout.prompts_per_step", "2", "--rollout.num_generations", "2"]
    stage = run_stage("r1_zero", recipe, 180, out)
    stage["numbers"] = run_metrics(run_dir)
    if (run_dir / "metrics.jsonl").exists():
        shutil.copy(run_dir / "metrics.jsonl", out / "r1_zero_metrics.jsonl")
    result["stages"]["r1_zero"] = stage
    save()

    # The benchmarks' prompts are GSM8K questions; ../shared does not travel to the GPU machine: use the tests' own
    # GSM8K-format rows there (the prompt text matters little to a random-weight model's timings).
    if "MINIRL_GSM8K" not in os.environ and not (ROOT.parent / "shared" / "data" / "gsm8k").is_dir():
        os.environ["MINIRL_GSM8K"] = str(ROOT / "tests" / "data" / "gsm8k")
    result["gsm8k"] = os.environ.get("MINIRL_GSM8K", str(ROOT.parent / "shared" / "data" / "gsm8k"))
    model = ["--model", str(ckpt)] if args.smoke else ["--arch", "qwen2.5-0.5b"]
    size = ["--max_new_tokens", "8", "--generations", "2"] if args.smoke else []
    for name, script, extra, limit in (
        ("rollout", "benchmarks/rollout.py", ["--engines", "[exact, bf16]"], 120),
        ("step", "benchmarks/step.py", ["--minirl_only", "true"], 120),
    ):
        json_out = out / f"{name}.json"
        cmd = [py, script, "--device", args.device, *model, *size, *extra, "--warmup", "1", "--steps", "2"]
        stage = run_stage(name, [*cmd, "--out", str(json_out)], limit, out)
        if json_out.exists():
            data = json.loads(json_out.read_text())
            stage["numbers"] = data.get("ratios_over_hf_tokens_per_s") or data.get("summary", {}).get(
                "minirl", {}
            )
        result["stages"][name] = stage
        save()
    print(table(result), flush=True)
    return result


if __name__ == "__main__":
    main()
