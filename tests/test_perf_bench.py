"""benchmarks/perf.py: its measurements (peak RSS reset, summaries, ratios), the Qwen2.5-0.5B architecture it builds
for GPUs, and each mode end to end on the tiny model (minirl side; TRL's side is tests/test_backends.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import perf  # noqa: E402


@pytest.fixture
def gsm8k_env(gsm8k_fixture_dir, monkeypatch):
    """The benchmark's prompts are GSM8K questions: point every worker process at the tests' GSM8K-format rows."""
    monkeypatch.setenv("MINIRL_GSM8K", str(gsm8k_fixture_dir))
    return gsm8k_fixture_dir


def test_peak_rss_is_reset_between_steps():
    perf.reset_peak_rss()
    before = perf.peak_rss_mib()
    block = bytearray(200 * 2**20)  # touch 200 MiB
    block[::4096] = b"x" * len(block[::4096])
    high = perf.peak_rss_mib()
    del block
    assert high - before > 150
    if Path("/proc/self/clear_refs").exists():
        perf.reset_peak_rss()
        assert perf.peak_rss_mib() < high - 150


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
    s = perf.summarize(rows)
    assert s["seconds_per_step"] == 15.0 and s["train_seconds"] == 10.0
    assert s["rollout_tokens_per_s"] == 100.0 and s["train_tokens_per_s"] == 2800 / 20
    assert s["peak_rss_mib"] == 1000.0 and s["profile_seconds"] == {"rollout": 5.0, "backward": 7.0}
    trl = dict(
        s, seconds_per_step=45.0, rollout_tokens_per_s=50.0, train_tokens_per_s=70.0, peak_rss_mib=2000.0
    )
    r = perf.ratios(s, trl)
    assert r == {"step_speedup": 3.0, "rollout_tokens_per_s": 2.0, "train_tokens_per_s": 2.0, "peak_rss": 0.5}


def test_grid_parsing_rejects_garbage():
    assert perf.parse_grid("4x64,8x128") == [(4, 64), (8, 128)]
    with pytest.raises(Exception, match="GxLEN"):
        perf.parse_grid("8,128")


def test_qwen25_05b_architecture_has_its_parameter_count():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    with torch.device("meta"):  # shapes only, no memory
        model = Qwen2ForCausalLM(Qwen2Config(**perf.QWEN25_05B))
    n = sum(p.numel() for p in model.parameters())
    assert n == 494_032_768  # Qwen2.5-0.5B: 0.49B parameters with tied embeddings
    layer = model.model.layers[0].self_attn
    assert (layer.k_proj.out_features, layer.q_proj.out_features) == (128, 896)  # 2 KV heads, 14 query heads


def _common(model_dir) -> list[str]:
    return ["--model", str(model_dir), "--generations", "2", "--max-new-tokens", "4", "--warmup", "1"]


def test_step_mode_minirl_only(tmp_path, tiny_model_dir, capsys, gsm8k_env):
    out = tmp_path / "step.json"
    perf.main([*_common(tiny_model_dir), "--steps", "2", "--minirl-only", "--out", str(out)])
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"minirl"} and len(result["per_step"]["minirl"]) == 2
    s = result["summary"]["minirl"]
    assert 0 < s["rollout_seconds"] < s["seconds_per_step"] and s["peak_rss_mib"] > 50
    assert {"rollout", "rewards", "forward", "backward", "optimizer"} <= set(s["profile_seconds"])
    assert abs(sum(s["profile_seconds"].values()) - s["seconds_per_step"]) < 1e-6
    assert result["settings"]["max_new_tokens"] == 4 and "torch" in result["machine"]
    assert "seconds_per_step" in capsys.readouterr().out  # the table


def test_rollout_mode(tmp_path, tiny_model_dir, gsm8k_env):
    result = perf.main([*_common(tiny_model_dir), "--mode", "rollout", "--steps", "1"])
    assert set(result["summary"]) == {"minirl", "hf_generate"}
    for s in result["summary"].values():
        assert 2 <= s["tokens"] <= 8 and s["tokens_per_s"] > 0
    assert result["ratio_minirl_over_hf_tokens_per_s"] > 0


def test_sweep_mode(tiny_model_dir, gsm8k_env):
    result = perf.main([*_common(tiny_model_dir), "--mode", "sweep", "--steps", "1", "--grid", "2x2,4x3"])
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


def test_decode_mode(tiny_model_dir, gsm8k_env):
    s = perf.main(["--model", str(tiny_model_dir), "--mode", "decode", "--generations", "2"])["summary"]
    assert {"decode_step_ms_batch1", "decode_step_ms_batch2", "decode_step_ms_batch4"} <= set(s)
    assert 0.1 < s["weight_MB"] < 10 and s["copy_GBps_read_plus_write"] > 0 and s["sample_ms_minirl"] > 0
