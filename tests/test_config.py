"""Config: YAML + command-line overrides, validation messages, every shipped YAML parses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from minirl.config import ConfigError, TrainConfig, config_from_dict, help_text, load_yaml, parse_args
from minirl.pipeline import LanguageMixingConfig, R1Config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("path", sorted((RECIPES / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses(path):
    # recipes/language_mixing.py and recipes/r1.py read their YAMLs with more sections than TrainConfig's.
    if path.name.startswith("language_mixing_"):
        cls = LanguageMixingConfig
    elif path.name.startswith("r1_") and not path.name.startswith("r1_zero_"):
        cls = R1Config
    else:
        cls = TrainConfig
    cfg = parse_args(["--config", str(path)], cls=cls)
    assert type(cfg) is cls
    raw = load_yaml(path)
    # Every key in the file landed in the config (nothing silently ignored).
    for section, values in raw.items():
        for key, value in (values or {}).items():
            assert getattr(getattr(cfg, section), key) == value, f"{path.name}: {section}.{key}"


@pytest.mark.parametrize("path", sorted((RECIPES / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_are_valid_yaml(path):
    data = yaml.safe_load(path.read_text())
    assert data["num_processes"] >= 1 and "distributed_type" in data


def test_overrides_and_types():
    cfg = parse_args(
        [
            "--run.max_steps",
            "3",
            "rollout.temperature=0.7",
            "--model.lora",
            "--grpo.rewards",
            "{accuracy: 1, format: 0.5}",
            "--data.train_size",
            "null",
        ]
    )
    assert cfg.run.max_steps == 3 and cfg.rollout.temperature == 0.7 and cfg.model.lora is True
    assert cfg.grpo.rewards == {"accuracy": 1, "format": 0.5} and cfg.data.train_size is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rollout.num_generations", "1"], "rollout.num_generations must be >= 2"),
        (["--grpo.loss_type", "ppo"], "grpo.loss_type must be one of"),
        (["--run.max_stepz", "3"], "Unknown config field 'run.max_stepz'"),
        (["--nosection.x", "1"], "Unknown config section 'nosection'"),
        (["--run.max_steps", "many"], "run.max_steps: expected int"),
        (["--model.lora", "maybe"], "model.lora: expected true/false"),
        (["stray"], "Unexpected argument 'stray'"),
    ],
)
def test_bad_values_name_the_field(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_args(argv)


def test_bad_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        parse_args(["--config", str(bad)])
    with pytest.raises(ConfigError, match="not found"):
        parse_args(["--config", str(tmp_path / "missing.yaml")])
    with pytest.raises(ConfigError, match="Unknown config section"):
        config_from_dict({"trainer": {"lr": 1}})


def test_help_lists_every_field_with_its_doc():
    text = help_text()
    assert "--rollout.num_generations" in text and "G: completions per prompt" in text
    assert "--run.resume" in text


def test_roundtrip_save(tmp_path):
    cfg = parse_args(["--run.seed", "7"])
    cfg.save(tmp_path / "c.yaml")
    again = config_from_dict(load_yaml(tmp_path / "c.yaml"))
    assert again == cfg
