"""Scale-out backends: the TRL backend (config mapping, prompt order, one real step), the vLLM rollout adapter
(its "not installed" message and output conversion), the config switches and the shipped accelerate configs."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from minirl.config import DataConfig, ModelConfig, RolloutConfig, RunConfig, TrainConfig
from minirl.config_checks import ConfigError
from minirl.testing import HANG_TIMEOUT_S, changed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes"))


def _cfg_args(tmp_path, model_dir) -> list[str]:
    """A one-step run of the tiny model on single-digit addition, 2 samples x 6 tokens, no stop string."""
    return [
        "--model.name",
        str(model_dir),
        "--data.task",
        "arithmetic",
        "--data.eval_size",
        "0",
        "--run.output_dir",
        str(tmp_path / "run"),
        "--run.max_steps",
        "1",
        "--run.seed",
        "3",
        "--rollout.num_generations",
        "2",
        "--rollout.max_new_tokens",
        "6",
        "--rollout.stop_at_answer",
        "false",
    ]


def _cfg(tmp_path, model_dir, **sections: dict) -> TrainConfig:
    """The run of :func:`_cfg_args` built in code, ``sections`` changed (:func:`minirl.testing.changed`)."""
    cfg = TrainConfig(
        model=ModelConfig(name=str(model_dir)),
        data=DataConfig(task="arithmetic", eval_size=0),
        run=RunConfig(output_dir=str(tmp_path / "run"), max_steps=1, seed=3),
        rollout=RolloutConfig(num_generations=2, max_new_tokens=6, stop_at_answer=False),
    )
    return changed(cfg, **sections)


# --------------------------------------------------------------------------------------------------------- config
def test_backend_and_engine_fields_are_validated():
    assert (RunConfig(backend="trl").backend, RolloutConfig(engine="vllm").engine) == ("trl", "vllm")
    assert (TrainConfig().run.backend, TrainConfig().rollout.engine) == ("minirl", "exact")
    assert RolloutConfig(engine="minirl").engine == "minirl"  # the old name of exact
    with pytest.raises(ConfigError, match="run.backend must be one of"):
        RunConfig(backend="deepspeed")
    with pytest.raises(ConfigError, match="rollout.engine must be one of"):
        RolloutConfig(engine="sglang")


# ------------------------------------------------------------------------------------------------------------ TRL
def test_trl_config_kwargs_map_every_grpo_setting(tmp_path):
    from minirl.backends.trl_backend import trl_config_kwargs

    cfg = _cfg(
        tmp_path,
        "m",
        rollout={"prompts_per_step": 3, "temperature": 0.7},
        grpo={
            "loss_type": "dr_grpo",
            "beta": 0.04,
            "epsilon_low": 0.1,
            "epsilon_high": 0.28,
            "num_iterations": 2,
        },
        optim={"lr": 1e-5, "scheduler": "cosine"},
    )
    kw = trl_config_kwargs(cfg, "cpu")
    assert kw["per_device_train_batch_size"] == 6 and kw["num_generations"] == 2
    assert kw["max_completion_length"] == 6 and kw["temperature"] == 0.7
    assert (kw["loss_type"], kw["beta"], kw["epsilon"], kw["epsilon_high"]) == ("dr_grpo", 0.04, 0.1, 0.28)
    assert (kw["num_iterations"], kw["learning_rate"], kw["lr_scheduler_type"]) == (2, 1e-5, "cosine")
    # max_steps counts updates in TRL: 1 rollout step x num_iterations 2
    assert (kw["max_steps"], kw["seed"], kw["output_dir"]) == (2, 3, str(tmp_path / "run"))
    assert kw["bf16"] is False and kw["use_cpu"] is True and kw["shuffle_dataset"] is False
    assert trl_config_kwargs(cfg, "cuda")["bf16"] is True


def test_trl_dataset_follows_minirl_prompt_order(tmp_path, tiny_tokenizer):
    from minirl.backends.trl_backend import trl_dataset
    from minirl.tasks import PromptStyle, build_prompt, get_task
    from minirl.trainer.data import PromptSchedule

    cfg = _cfg(tmp_path, "m", run={"max_steps": 3}, rollout={"prompts_per_step": 2})
    data = trl_dataset(cfg, tiny_tokenizer)
    task = get_task("arithmetic")
    schedule = PromptSchedule(task.examples("train", n=10_000, seed=3), 2, 3)
    expected = [ex for s in range(3) for ex in schedule.batch(s)]
    assert len(data) == 6
    assert data["answer"] == [ex.answer for ex in expected]
    assert data[5]["prompt"] == build_prompt(expected[5], tiny_tokenizer, PromptStyle(), task=task)


def test_trl_backend_warns_about_settings_it_cannot_map(tmp_path):
    from minirl.backends.trl_backend import _unmapped

    cfg = _cfg(tmp_path, "m", rollout={"stop_at_answer": True}, grpo={"dynamic_sampling": True})
    assert [s.split("=")[0] for s in _unmapped(cfg)] == ["rollout.stop_at_answer", "grpo.dynamic_sampling"]


def test_recipe_runs_one_step_through_trl(tmp_path, tiny_model_dir):
    import r1_zero

    trainer = r1_zero.main(
        [
            *_cfg_args(tmp_path, tiny_model_dir),
            "--run.backend",
            "trl",
            "--checkpoint.save_model",
            "false",
            "--grpo.rewards",
            '{"format": 1.0, "accuracy": 1.0}',
        ]
    )
    assert type(trainer).__module__.startswith("trl")
    assert trainer.state.global_step == 1
    logged = {k for row in trainer.state.log_history for k in row}
    assert {"rewards/format/mean", "rewards/accuracy/mean"} <= logged
    assert trainer.args.num_generations == 2 and trainer.args.max_completion_length == 6


# ----------------------------------------------------------------------------------------------------------- vLLM
def test_vllm_engine_without_vllm_says_pip_install(tmp_path, tiny_model_dir, monkeypatch):
    import r1_zero

    from minirl.backends.vllm_rollout import require_vllm

    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail even where it is installed
    with pytest.raises(ImportError, match="pip install vllm"):
        require_vllm()
    with pytest.raises(ImportError, match="pip install vllm"):  # the recipe stops before loading the model
        r1_zero.main([*_cfg_args(tmp_path, tiny_model_dir), "--rollout.engine", "vllm"])
    assert not (tmp_path / "run").exists()


def test_vllm_outputs_become_a_rollout(tiny_tokenizer):
    from minirl.backends.vllm_rollout import rollout_from_outputs

    def req(prompt_ids, comps):
        return SimpleNamespace(
            prompt_token_ids=prompt_ids,
            outputs=[SimpleNamespace(token_ids=ids, finish_reason=why) for ids, why in comps],
        )

    a, b, eos = (
        tiny_tokenizer("a").input_ids[0],
        tiny_tokenizer("b").input_ids[0],
        tiny_tokenizer.eos_token_id,
    )
    outs = [
        req([a, b, a], [([b, eos], "stop"), ([a, a, a], "length")]),
        req([b], [([a], "stop"), ([b, b], "length")]),
    ]
    roll = rollout_from_outputs(outs, ["p0", "p1"], tiny_tokenizer, num_generations=2)
    assert roll.prompt_ids.shape == (4, 3) and roll.completion_ids.shape == (4, 3)
    assert roll.prompt_mask[2].tolist() == [0, 0, 1] and roll.prompt_ids[2, -1].item() == b
    assert roll.lengths.tolist() == [2, 3, 1, 2]
    assert roll.truncated.tolist() == [False, True, False, True]
    assert roll.completion_ids[0, 2].item() == tiny_tokenizer.pad_token_id
    assert roll.texts == ["b", "aaa", "a", "bb"] and roll.prompts == ["p0", "p1"]
    with pytest.raises(ValueError, match="expected 3"):
        rollout_from_outputs(outs, ["p0", "p1"], tiny_tokenizer, num_generations=3)
    assert roll.completion_mask.dtype in (torch.long, torch.int64)


class _FakeVLLM:
    """Stands in for ``vllm.LLM`` where ``sync_weights`` reaches the engine's model: records what it is given."""

    def __init__(self):
        self.received: dict[str, torch.Tensor] = {}
        engine_model = SimpleNamespace(load_weights=self._load)
        runner = SimpleNamespace(model=engine_model)
        self.llm_engine = SimpleNamespace(
            model_executor=SimpleNamespace(driver_worker=SimpleNamespace(model_runner=runner))
        )

    def _load(self, weights):
        for name, value in weights:
            assert name not in self.received, f"{name} sent twice"
            self.received[name] = value.detach().clone()


def test_sync_weights_sends_the_full_model_as_is(tiny_model):
    from minirl.backends.vllm_rollout import sync_weights

    llm = _FakeVLLM()
    sync_weights(llm, tiny_model)
    expected = tiny_model.state_dict()
    assert set(llm.received) == set(expected)
    assert all(torch.equal(llm.received[k], expected[k]) for k in expected)


def test_sync_weights_with_lora_sends_merged_weights_and_keeps_the_adapter(tiny_model):
    """vLLM gets base-named merged weights; the policy being trained keeps its adapter and every weight as it was."""
    import copy

    from peft import LoraConfig, get_peft_model

    from minirl.backends.vllm_rollout import sync_weights

    model = get_peft_model(
        tiny_model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    with torch.no_grad():  # a trained adapter: lora_B is zero at init, which would hide a missing merge
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    expected = copy.deepcopy(model).merge_and_unload().state_dict()
    llm = _FakeVLLM()
    sync_weights(llm, model)
    assert hasattr(model, "peft_config") and hasattr(model, "disable_adapter")  # still a PeftModel
    assert sorted(n for n, p in model.named_parameters() if p.requires_grad) == trainable
    after = model.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert set(llm.received) == set(expected)
    assert not any(k.startswith("base_model.") or "lora_" in k or "base_layer" in k for k in llm.received)
    for k, v in expected.items():
        assert torch.allclose(llm.received[k], v, atol=1e-6), k
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(
        llm.received[q], before[f"base_model.model.{q.replace('.weight', '.base_layer.weight')}"]
    )


# ---------------------------------------------------------------------------------------------- accelerate configs
@pytest.mark.parametrize(
    "name, kind, section, stage",
    [
        ("deepspeed_zero2", "DEEPSPEED", "deepspeed_config", 2),
        ("deepspeed_zero3", "DEEPSPEED", "deepspeed_config", 3),
        ("fsdp", "FSDP", "fsdp_config", None),
    ],
)
def test_accelerate_scale_out_configs(name, kind, section, stage):
    from accelerate.commands.config.config_args import load_config_from_file

    path = ROOT / "recipes" / "accelerate" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    for key in (
        "compute_environment",
        "distributed_type",
        "mixed_precision",
        "num_machines",
        "num_processes",
    ):
        assert key in raw, f"{path.name} lacks {key}"
    assert raw["distributed_type"] == kind and raw["use_cpu"] is False
    if stage is not None:
        assert raw[section]["zero_stage"] == stage
    else:
        assert raw[section]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    parsed = load_config_from_file(str(path))  # what `accelerate launch --config_file` reads
    assert parsed.distributed_type.value == kind
    assert getattr(parsed, section) == raw[section]


def test_backends_import_their_engines_lazily():
    import subprocess

    code = (
        "import sys, minirl.backends.trl_backend, minirl.backends.vllm_rollout\n"
        "print(sorted(m for m in ('trl', 'datasets', 'vllm') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_TIMEOUT_S, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
