"""benchmarks/: the shared measurements (peak RSS reset, summaries, ratios, the machine), the Qwen2.5-0.5B
architecture they build for GPUs, and each benchmark script end to end on the tiny model (step.py also with TRL's
side; the TRL backend itself is tests/test_backends.py)."""

from __future__ import annotations

import importlib.util
import json
import mmap
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import common, decode, gpu_check, int8, rollout, scaling, step, sweep, workers  # noqa: E402
from benchmarks import compile as compile_bench  # noqa: E402
from benchmarks import memory as memory_bench  # noqa: E402
from minirl.config_checks import ConfigError  # noqa: E402


@pytest.fixture
def gsm8k_env(gsm8k_fixture_dir, monkeypatch):
    """The benchmark's prompts are GSM8K questions: point every worker process at the tests' GSM8K-format rows."""
    monkeypatch.setenv("MINIRL_GSM8K", str(gsm8k_fixture_dir))
    return gsm8k_fixture_dir


def test_peak_rss_is_reset_between_steps():
    # a fresh anonymous mapping: a bytearray could reuse pages the allocator kept resident after earlier tests,
    # leaving RSS (and so the peak) where it was
    common.reset_peak_rss()
    before = common.peak_rss_mib()
    block = mmap.mmap(-1, 200 * 2**20)  # touch 200 MiB
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    high = common.peak_rss_mib()
    block.close()
    assert high - before > 150
    if Path("/proc/self/clear_refs").exists():
        common.reset_peak_rss()
        assert common.peak_rss_mib() < high - 150


def test_summary_and_ratios():
    rows = [
        {
            "seconds": 10.0,
            "rollout_seconds": 4.0,
            "generated_tokens": 400,
            "train_tokens": 1200,
            "mean_completion_length": 50.0,
            "peak_rss_mib": 900.0,
            "phases": {"rollout": 4.0, "backward": 5.0},
        },
        {
            "seconds": 20.0,
            "rollout_seconds": 6.0,
            "generated_tokens": 600,
            "train_tokens": 1600,
            "mean_completion_length": 70.0,
            "peak_rss_mib": 1000.0,
            "phases": {"rollout": 6.0, "backward": 9.0},
        },
    ]
    s = common.summarize(rows)
    assert s["seconds_per_step"] == 15.0 and s["train_seconds"] == 10.0
    assert s["rollout_tokens_per_s"] == 100.0 and s["train_tokens_per_s"] == 2800 / 20
    assert s["peak_rss_mib"] == 1000.0 and s["profile_seconds"] == {"rollout": 5.0, "backward": 7.0}
    trl = dict(
        s, seconds_per_step=45.0, rollout_tokens_per_s=50.0, train_tokens_per_s=70.0, peak_rss_mib=2000.0
    )
    r = step.ratios(s, trl)
    assert r == {"step_speedup": 3.0, "rollout_tokens_per_s": 2.0, "train_tokens_per_s": 2.0, "peak_rss": 0.5}


def test_rate_summary_is_over_all_runs():
    rows = [
        {"seconds": 1.0, "tokens": 10, "peak_rss_mib": 5.0},
        {"seconds": 3.0, "tokens": 30, "peak_rss_mib": 7.0},
    ]
    assert common.rate_summary(rows) == {
        "seconds": 2.0,
        "tokens": 20.0,
        "tokens_per_s": 10.0,
        "peak_rss_mib": 7.0,
    }


def test_grid_and_list_options_reject_garbage():
    assert sweep.parse_grid(["4x64", "8x128"]) == [(4, 64), (8, 128)]
    for bad in (["8", "128"], ["4x0"], []):
        with pytest.raises(ConfigError, match="GxLEN"):
            sweep.parse_grid(bad)
    assert common.parse_options(scaling.ScalingArgs, ["--prompts", "[1, 2, 4, 8]"]).prompts == [1, 2, 4, 8]
    for bad in ("[1, x]", "[0, 2]", "[]", "1,2"):
        with pytest.raises(SystemExit):
            common.parse_options(scaling.ScalingArgs, ["--prompts", bad])
    args = common.parse_options(rollout.RolloutArgs, ["--engines", "[exact, bf16]"])
    assert args.engines == ["exact", "bf16"] and not args.stop_at_eos
    with pytest.raises(SystemExit):
        common.parse_options(rollout.RolloutArgs, ["--engines", "[exact, int8]"])


def test_qwen25_05b_architecture_has_its_parameter_count():
    with torch.device("meta"):  # shapes only, no memory
        model, tok = common.qwen25_05b(seed=0)  # what --arch qwen2.5-0.5b and gpu_check.py build
    assert model.generation_config.eos_token_id == tok.eos_token_id
    n = sum(p.numel() for p in model.parameters())
    assert n == 494_032_768  # Qwen2.5-0.5B: 0.49B parameters with tied embeddings
    layer = model.model.layers[0].self_attn
    assert (layer.k_proj.out_features, layer.q_proj.out_features) == (128, 896)  # 2 KV heads, 14 query heads


def test_machine_names_the_cpu_and_the_libraries():
    from minirl.rollout.engines import cpu_has_native_bf16

    m = common.machine()
    assert m["cpu"] and m["cpu_count"] >= 1 and m["cpu_native_bf16_amx"] is cpu_has_native_bf16()
    assert isinstance(m["cpu_avx512_flags"], list) and all(
        f.startswith("avx512") for f in m["cpu_avx512_flags"]
    )
    assert {"torch", "transformers", "torch_threads"} <= set(m)
    if Path("/proc/cpuinfo").exists():
        assert m["cpu_avx2"] == (" avx2 " in Path("/proc/cpuinfo").read_text().replace("\n", " "))


def test_without_eos_decodes_every_row_to_the_cap_on_both_sides(tiny_model, tiny_tokenizer):
    from minirl.rollout.generate import generate

    eos = tiny_tokenizer.eos_token_id
    tiny_model.lm_head.register_forward_hook(lambda mod, i, out: out.index_fill(-1, torch.tensor([eos]), 1e4))
    enc = tiny_tokenizer(["hi"], return_tensors="pt", add_special_tokens=False)
    width = enc["input_ids"].shape[1]
    gen = torch.Generator().manual_seed(0)
    assert generate(
        tiny_model, tiny_tokenizer, ["hi"], 2, 7, stop_strings=(), generator=gen
    ).lengths.tolist() == [1, 1]
    assert tiny_model.generate(**enc, do_sample=True, top_k=0, max_new_tokens=7).shape[1] == width + 1
    fixed = common.without_eos(tiny_model, tiny_tokenizer)  # EOS is now drawn every step but ends nothing
    assert fixed.eos_token_id is None and tiny_tokenizer.eos_token_id == eos
    roll = generate(tiny_model, fixed, ["hi", "a longer prompt"], 3, 7, stop_strings=(), generator=gen)
    assert roll.lengths.tolist() == [7] * 6 and bool(roll.truncated.all())
    assert tiny_model.generate(**enc, do_sample=True, top_k=0, max_new_tokens=7).shape[1] == width + 7


def _common(model_dir) -> list[str]:
    return ["--model", str(model_dir), "--generations", "2", "--max_new_tokens", "4", "--warmup", "1"]


def test_step_minirl_only(tmp_path, tiny_model_dir, capsys, gsm8k_env):
    out = tmp_path / "step.json"
    step.main([*_common(tiny_model_dir), "--steps", "2", "--minirl_only", "true", "--out", str(out)])
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"minirl"} and len(result["per_step"]["minirl"]) == 2
    s = result["summary"]["minirl"]
    assert 0 < s["rollout_seconds"] < s["seconds_per_step"] and s["peak_rss_mib"] > 50
    # the trainer's own phases (time/* metrics); forward and backward are one phase there
    assert {"rollout", "score", "forward_backward", "optimizer", "other"} <= set(s["profile_seconds"])
    assert abs(sum(s["profile_seconds"].values()) - s["seconds_per_step"]) < 1e-6
    assert result["settings"]["max_new_tokens"] == 4 and "torch" in result["machine"]
    assert result["minirl_engine"] == "exact"  # the default engine
    assert "seconds_per_step" in capsys.readouterr().out  # the table


def test_step_engine_and_prompts_per_step_reach_the_trainer(tmp_path, tiny_model_dir, gsm8k_env):
    argv = [*_common(tiny_model_dir), "--warmup", "0", "--steps", "1", "--minirl_only", "true"]
    result = step.main([*argv, "--engine", "bf16", "--prompts_per_step", "3"])
    assert result["minirl_engine"] == "bf16"
    row = result["per_step"]["minirl"][0]
    assert row["sequences"] == 6 and 6 <= row["generated_tokens"] <= 24  # 3 prompts x G = 2, at most 4 tokens


@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("trl", "datasets")), reason="needs trl and datasets"
)
def test_step_side_by_side_with_trl(tiny_model_dir, gsm8k_env):
    argv = [*_common(tiny_model_dir), "--warmup", "0", "--steps", "1", "--prompts_per_step", "2"]
    result = step.main(argv)
    assert set(result["summary"]) == {"minirl", "trl"}
    mini, trl = result["per_step"]["minirl"][0], result["per_step"]["trl"][0]
    assert mini["sequences"] == trl["sequences"] == 4  # TRL gets the same 2 prompts x G per step
    # the same prompts on both sides: the prompt part of the training tokens is equal
    assert mini["train_tokens"] - mini["generated_tokens"] == trl["train_tokens"] - trl["generated_tokens"]
    assert 0 < trl["rollout_seconds"] < trl["seconds"] and trl["peak_rss_mib"] > 50
    assert set(result["ratios_minirl_over_trl"]) == {
        "step_speedup",
        "rollout_tokens_per_s",
        "train_tokens_per_s",
        "peak_rss",
    }
    assert all(v > 0 for v in result["ratios_minirl_over_trl"].values())


def test_a_worker_that_dies_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="the minirl worker exited with code"):
        workers.Worker(ROOT / "benchmarks" / "step.py", "minirl", ["--model", str(tmp_path / "missing")])


def test_rollout(tiny_model_dir, gsm8k_env):
    result = rollout.main([*_common(tiny_model_dir), "--steps", "1"])
    assert set(result["summary"]) == {"minirl_exact", "minirl_bf16", "hf_generate"}
    assert result["fixed_length"] and result["engines"] == {"minirl_exact": "exact", "minirl_bf16": "bf16"}
    for s in result["summary"].values():
        assert s["tokens"] == 8 and s["tokens_per_s"] > 0  # EOS ignored: every row decodes 4 tokens
    assert set(result["ratios_over_hf_tokens_per_s"]) == {"minirl_exact", "minirl_bf16"}
    assert all(v > 0 for v in result["ratios_over_hf_tokens_per_s"].values())


def test_rollout_stopping_at_eos(tiny_model_dir, gsm8k_env):
    result = rollout.main(
        [*_common(tiny_model_dir), "--steps", "1", "--engines", "[exact]", "--stop_at_eos", "true"]
    )
    assert set(result["summary"]) == {"minirl_exact", "hf_generate"} and not result["fixed_length"]
    for s in result["summary"].values():
        assert 2 <= s["tokens"] <= 8 and s["tokens_per_s"] > 0
    assert result["ratios_over_hf_tokens_per_s"]["minirl_exact"] > 0


def test_scaling(tiny_model_dir, gsm8k_env):
    argv = [*_common(tiny_model_dir), "--warmup", "0", "--steps", "1", "--prompts", "[2, 1]"]
    result = scaling.main([*argv, "--engines", "[exact, bf16]"])
    assert set(result["curves"]) == {"exact", "bf16"} and result["narrowest"] == "1x2"
    for cells in result["curves"].values():
        assert [(c["prompts"], c["rows"], c["tokens"]) for c in cells] == [(1, 2, 8), (2, 4, 16)]
        assert cells[0]["seconds_over_narrowest"] == 1.0 and cells[1]["seconds_over_narrowest"] > 0


def test_sweep(tiny_model_dir, gsm8k_env):
    result = sweep.main([*_common(tiny_model_dir), "--steps", "1", "--grid", "[2x2, 4x3]"])
    cells = result["cells"]
    assert [(c["generations"], c["max_new_tokens"]) for c in cells] == [(2, 2), (4, 3)]
    assert all(c["mean_completion_length"] <= c["max_new_tokens"] for c in cells)


def test_inverse_cdf_sampler_draws_from_the_distribution():
    """minirl's sampler (inverse CDF, faster than torch.multinomial on CPUs) against exact probabilities."""
    from minirl.rollout.generate import sample_next_token

    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0, -1e9, 0.5]]).repeat(100_000, 1)  # token 3 has probability 0
    freq = torch.bincount(sample_next_token(logits, 1.0, 1.0, gen), minlength=5).float() / 100_000
    assert torch.allclose(freq, torch.softmax(logits[0], -1), atol=0.006) and freq[3] == 0
    nucleus = torch.bincount(sample_next_token(logits, 1.0, 0.7, gen), minlength=5).float() / 100_000
    p = torch.softmax(logits[0], -1)
    assert torch.allclose(
        nucleus[[1, 2]], p[[1, 2]] / p[[1, 2]].sum(), atol=0.006
    )  # only the top two survive
    assert nucleus[[0, 3, 4]].sum() == 0
    with pytest.raises(RuntimeError, match="nan"):
        sample_next_token(torch.full((2, 5), float("nan")), 1.0, 1.0, gen)


def test_decode(tiny_model_dir, gsm8k_env):
    s = decode.main(["--model", str(tiny_model_dir), "--generations", "2"])["summary"]
    assert {"decode_step_ms_batch1", "decode_step_ms_batch2", "decode_step_ms_batch4"} <= set(s)
    assert 0.1 < s["weight_MB"] < 10 and s["copy_GBps_read_plus_write"] > 0 and s["sample_ms_minirl"] > 0


def test_int8(tiny_model_dir, gsm8k_env, tmp_path):
    """Every variant is timed and measured; fp32 is the reference (KL 0), quantizing moves the distribution."""
    out = tmp_path / "int8.json"
    rows = int8.main(
        ["--model", str(tiny_model_dir), "--generations", "2", "--max_new_tokens", "6", "--out", str(out)]
    )["rows"]
    assert {"fp32", "bf16 copy", "int8 every linear", "int8 all but down_proj", "int8 lm_head only"} <= set(
        rows
    )
    assert rows["fp32"]["kl_mean"] == 0.0 and rows["fp32"]["speedup_vs_fp32"] == 1.0
    assert all(r["decode_ms"] > 0 for r in rows.values())
    assert (
        rows["int8 every linear"]["kl_mean"] > 0
        and rows["int8 every linear"]["kl_max"] >= rows["int8 every linear"]["kl_mean"]
    )
    assert "weight_only_matmul" in json.loads(out.read_text())


@pytest.mark.parametrize("script", ["step", "rollout", "scaling", "sweep", "decode", "int8"])
def test_scripts_run_from_anywhere(script, tmp_path):
    """Each script puts the repository on sys.path itself: ``--help`` works from another directory."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--model" in done.stdout and "--out" in done.stdout


def test_a_bad_option_is_a_one_line_error(capsys):
    """The options are parsed as the recipes' configs (jsonargparse): a mistake is one ``error:`` line, exit 2."""
    for argv, message in (
        (["--stop-at-eos"], "unrecognized arguments: --stop-at-eos"),
        (["--engines", "exact"], 'Parser key "engines"'),
        (["--prompts", "0"], "prompts must be >= 1, got 0"),
    ):
        with pytest.raises(SystemExit) as stop:
            rollout.main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith("error: ") and message in err, err
        assert err.count("\n") == 1
    with pytest.raises(SystemExit) as stop:
        sweep.main(["--grid", "[8x, 4x64]"])
    assert stop.value.code == 2 and "grid expects GxLEN pairs" in capsys.readouterr().err


def test_compile_modes_do_the_same_work(tiny_model_dir, gsm8k_env):
    """The eager modes (the compiled one needs a C++ toolchain and minutes): same first-step logits, ratios > 0."""
    argv = ["--model", str(tiny_model_dir), "--generations", "2", "--max_new_tokens", "8", "--steps", "3"]
    s = compile_bench.main([*argv, "--modes", "[reserved, static]", "--dtype", "float32"])["summary"]
    assert s["reserved_step_ms"] > 0 and s["static_step_ms"] > 0 and s["reserved_vs_reserved"] == 1.0
    # fp32: the static cache's masked attention equals the reserved one
    assert s["static_max_logit_diff"] < 1e-4
    with pytest.raises(SystemExit, match="--max_new_tokens of at least"):
        compile_bench.main([*argv, "--steps", "20"])


def test_gpu_check_runs_every_stage_in_smoke_mode(tmp_path, gsm8k_env):
    """The GPU machine's one script, on the CPU with the 2-layer model: every stage ends ok and leaves numbers."""
    out = tmp_path / "out"
    result = gpu_check.main(
        ["--smoke", "true", "--out_dir", str(out), "--work_dir", str(tmp_path / "work"), "--steps", "2"]
    )
    assert set(result["stages"]) == {"r1_zero", "rollout", "step"}  # smoke mode has no gpu_tests stage
    for name, stage in result["stages"].items():
        assert stage["status"] == "ok", (name, stage["tail"])
    recipe = result["stages"]["r1_zero"]["numbers"]
    assert recipe["steps"] == 2 and recipe["step_time_s"] > 0 and recipe["rollout_tokens_per_s"] > 0
    assert recipe["peak_memory_gib"] > 0  # resident memory on the CPU, allocated memory on CUDA
    assert set(result["stages"]["rollout"]["numbers"]) == {"minirl_exact", "minirl_bf16"}
    assert result["stages"]["step"]["numbers"]["seconds_per_step"] > 0
    saved = json.loads((out / "gpu_check.json").read_text())
    assert saved["stages"].keys() == result["stages"].keys()
    assert "| r1_zero | ok |" in (out / "gpu_check.md").read_text()
    # what comes back from the device machine: at most 8 files, the checkpoint not among them
    names = {p.name for p in out.iterdir()}
    assert names == {
        "gpu_check.json",
        "gpu_check.md",
        "logs.txt",
        "r1_zero_metrics.jsonl",
        "rollout.json",
        "step.json",
    }
    assert "===== step: ok" in (out / "logs.txt").read_text()


def test_gpu_check_without_a_gpu_stops_before_any_stage(tmp_path, monkeypatch):
    """--device cuda with no GPU visible: a one-line stop, not CUDA tests all skipped and reported ok."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="no CUDA device"):
        gpu_check.main(["--out_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_gpu_check_reads_a_run_cut_off_mid_line(tmp_path):
    """A recipe stage killed by its time limit leaves a half-written last line: skipped with a warning, the steps
    before it still counted (the stages after it must not be lost to a parse error)."""
    rows = [
        {"step": 1, "step_time": 2.0, "tokens_per_s": 10.0},
        {"step": 2, "step_time": 1.0, "tokens_per_s": 20.0},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 3, "step_ti'
    (tmp_path / "metrics.jsonl").write_text(text)
    with pytest.warns(UserWarning, match="incomplete last line"):
        numbers = gpu_check.run_metrics(tmp_path)
    assert numbers["steps"] == 2 and numbers["step_time_s"] == 1.0  # the first step is the warm-up
    assert numbers["rollout_tokens_per_s"] == 20.0 and numbers["peak_memory_gib"] is None
    assert gpu_check.run_metrics(tmp_path / "absent") == {}


def test_memory_benchmark_side_by_side_curves_and_evaluation(tmp_path, tiny_model_dir, gsm8k_env):
    """Every part on the 2-layer model: each side's peak and phases, ratios, curve points with estimates, a plot."""
    png = tmp_path / "memory.png"
    argv = ["--model", str(tiny_model_dir), "--generations", "2", "--max_new_tokens", "4",
            "--lengths", "[4, 8]", "--prompts", "[1]", "--eval_batch_size", "18", "--plot", str(png)]  # fmt: skip
    result = memory_bench.main(argv)
    for work in result["side_by_side"].values():
        assert work["minirl"]["peak_rss_mib"] > 50 and work["trl"]["peak_rss_mib"] > 50
        assert set(work["minirl"]["memory_gib"]) >= {"rollout", "forward_backward", "peak"}
        assert work["peak_ratio_minirl_over_trl"] > 0 and work["step_speedup_minirl_over_trl"] > 0
    tokens = result["curves"]["tokens"]
    assert [r["tokens"] for r in tokens] == [4, 8] and all(r["estimate_gib"] > 0 for r in tokens)
    assert [r["prompts"] for r in result["curves"]["prompts"]] == [1]
    assert result["evaluation"]["rows"] == 18 and result["evaluation"]["peak_rss_mib"] > 50
    assert png.stat().st_size > 1000


def test_reasoning_summary_groups_length_and_accuracy_by_number_of_terms(tmp_path):
    from benchmarks.reasoning_summary import by_terms

    rows = [
        {"question": "What is 1 + 2 + 3?", "lengths": [30, 99], "correct": [True, False]},
        {"question": "What is 4 + 5 + 6?", "lengths": [34, 1], "correct": [False, True]},
        {"question": "What is 1 + 2 + 3 + 4?", "lengths": [44], "correct": [True]},
    ]
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert by_terms(path) == {  # the greedy completion (the first) of each problem
        "3": {"length": 32.0, "accuracy": 0.5, "n": 2},
        "4": {"length": 44.0, "accuracy": 1.0, "n": 1},
    }
