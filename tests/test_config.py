"""Config: YAML + command-line overrides, validation messages, every shipped YAML parses."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from minirl.config import TrainConfig
from minirl.config_checks import ConfigError
from minirl.config_parse import config_from_dict, help_text, parse_args
from minirl.r1.config import LanguageMixingConfig, R1Config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("path", sorted((RECIPES / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses(path):
    # recipes/language_mixing.py, language_drift.py and recipes/r1.py read their YAMLs with more sections than TrainConfig's.
    if path.name.startswith(("language_mixing_", "language_drift_")):
        cls = LanguageMixingConfig
    elif path.name.startswith("r1_") and not path.name.startswith("r1_zero_"):
        cls = R1Config
    else:
        cls = TrainConfig
    cfg = parse_args(["--config", str(path)], cls=cls)
    assert type(cfg) is cls
    raw = yaml.safe_load(path.read_text())
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
            "--rollout.temperature=0.7",
            "--model.lora",
            "true",
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
        # Our checks (__post_init__) ...
        (["--rollout.num_generations", "1"], "rollout.num_generations must be >= 2"),
        (["--grpo.loss_type", "ppo"], "grpo.loss_type must be one of"),
        # ... and jsonargparse's own messages.
        (["--run.max_stepz", "3"], "unrecognized arguments: --run.max_stepz 3"),
        (["--nosection.x", "1"], "unrecognized arguments: --nosection.x 1"),
        (
            ["--run.max_steps", "many"],
            "Parser key \"run.max_steps\": Expected a <class 'int'>. Got value: many",
        ),
        (["--model.lora", "maybe"], "Parser key \"model.lora\": Expected a <class 'bool'>. Got value: maybe"),
        (["stray"], "unrecognized arguments: stray"),
        # The forms minirl's own argv rewriting used to accept.
        (["--model.lora"], "argument --model.lora: expected one argument"),
        (["run.max_steps=3"], "unrecognized arguments: run.max_steps=3"),
        (["--run.report_to", "tensorboard,wandb"], "Parser key \"run.report_to\": Expected a <class 'list'>"),
    ],
)
def test_bad_values_name_the_field(argv, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        parse_args(argv)
    assert "\n" not in str(err.value)


def test_bad_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed\n")
    with pytest.raises(
        ConfigError, match=r"^argument --config: \S*bad.yaml: Problems parsing config: "
    ) as err:
        parse_args(["--config", str(bad)])
    assert "\n" not in str(err.value) and "line 1, column 6" in str(err.value)
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=r"^argument --config: \S*missing.yaml: .*File does not exist"):
        parse_args(["--config", str(missing)])
    with pytest.raises(ConfigError, match=r"\S*missing.yaml: .*File does not exist"):
        parse_args([], default_config=missing)
    with pytest.raises(ConfigError, match="Option 'trainer.lr' is not accepted"):
        config_from_dict({"trainer": {"lr": 1}})
    with pytest.raises(
        ConfigError, match=re.escape("Config sections must be mappings of fields, got {'run': 5}")
    ):
        config_from_dict({"run": 5})


def test_help_lists_every_field_with_its_doc():
    text = help_text()
    assert "--rollout.num_generations" in text and "G: completions per prompt" in text
    assert "--checkpoint.resume" in text


def test_roundtrip_save(tmp_path):
    cfg = parse_args(["--run.seed", "7"])
    cfg.save(tmp_path / "c.yaml")
    again = config_from_dict(yaml.safe_load((tmp_path / "c.yaml").read_text()))
    assert again == cfg


def test_run_is_split_into_run_eval_and_checkpoint():
    cfg = parse_args(
        ["--eval.every", "5", "--eval.k", "4", "--checkpoint.every", "10", "--checkpoint.resume=latest"]
    )
    assert (cfg.eval.every, cfg.eval.k, cfg.checkpoint.every, cfg.checkpoint.resume) == (5, 4, 10, "latest")
    assert not {f.name for f in fields(cfg.run)} & {"eval_k", "save_every", "resume", "save_model"}
    assert len(fields(cfg.run)) == 12 and len(fields(cfg.eval)) == 9 and len(fields(cfg.checkpoint)) == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "run:\n  max_stepz: 3\n",
            r"^argument --config: \S*cfg.yaml: Group 'run' does not accept option 'max_stepz'$",
        ),
        ("trainer:\n  lr: 1\n", r"^argument --config: \S*cfg.yaml: Option 'trainer.lr' is not accepted$"),
        (
            "run: 5\n",
            r"^argument --config: \S*cfg.yaml: Config sections must be mappings of fields, got \{'run': 5\}",
        ),
        (
            "eval:\nrun:\n  seed: 1\n",
            r"cfg.yaml: Config sections must be mappings of fields, got \{'eval': None\}",
        ),
        ("- a\n- b\n", r"^argument --config: \S*cfg.yaml: Unexpected config: - a - b$"),
        (
            "run:\n  max_steps: many\n",
            r"^argument --config: \S*cfg.yaml: Parser key \"run.max_steps\": Expected a <class 'int'>. Got value: many$",
        ),
        ("rollout:\n  num_generations: 1\n", "rollout.num_generations must be >= 2"),
        ("eval:\n  k: 0\n", "eval.k must be >= 1, got 0"),
        ("checkpoint:\n  keep_last: 0\n", "checkpoint.keep_last must be >= 1, got 0"),
    ],
)
def test_bad_yaml_fields_sections_and_values_get_one_line(tmp_path, text, message):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        parse_args(["--config", str(path)])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--data.train_size", "abc"],
            'Parser key "data.train_size": Does not validate against any of the Union',
        ),
        (["--data.train_size", "abc"], "Given value: abc"),
        (
            ["--grpo.rewards", "[1, 2]"],
            'Parser key "grpo.rewards": Does not validate against any of the Union',
        ),
        (["--eval.k"], "argument --eval.k: expected one argument"),
        (["--run"], "argument --run: expected one argument"),
        (["--config"], "argument --config: expected one argument"),
        (["--eval.max_new_tokens", "0"], "eval.max_new_tokens must be >= 1 or null, got 0"),
    ],
)
def test_more_bad_command_lines_get_one_line(argv, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        parse_args(argv)
    assert "\n" not in str(err.value)


def test_default_config_is_replaced_by_an_explicit_one(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("run:\n  max_steps: 3\n")
    default = RECIPES / "configs" / "r1_zero_smollm2_cpu.yaml"
    shipped = yaml.safe_load(default.read_text())
    assert parse_args([], default_config=default).eval.k == shipped["eval"]["k"] != 2
    assert (
        parse_args(["--eval.k", "2"], default_config=default).eval.k == 2
    )  # an override wins over the default
    cfg = parse_args(["--config", str(mine), "--eval.k", "2"], default_config=default)
    assert (cfg.run.max_steps, cfg.eval.k, cfg.eval.at_start) == (3, 2, False)  # nothing from the default
    assert shipped["eval"]["at_start"] is True


def test_an_override_after_config_wins_and_one_before_it_loses(tmp_path):
    """``--config`` is jsonargparse's ActionConfigFile: the command line applies in order."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("run:\n  max_steps: 3\n  seed: 5\n")
    cfg = parse_args(["--config", str(mine), "--run.max_steps", "7"])
    assert (cfg.run.max_steps, cfg.run.seed) == (7, 5)
    assert parse_args([f"--config={mine}", "--run.max_steps=7"]).run.max_steps == 7
    assert parse_args(["--run.max_steps", "7", "--config", str(mine)]).run.max_steps == 3


def test_lists_and_booleans_are_yaml_values():
    cfg = parse_args(
        ["--run.report_to", "[tensorboard, wandb]", "--model.lora", "true", "--run.overwrite=true"]
    )
    assert cfg.run.report_to == ["tensorboard", "wandb"] and cfg.model.lora and cfg.run.overwrite
    assert parse_args(["--run.report_to=[wandb]", "--model.lora", "false"]).run.report_to == ["wandb"]
    cfg = parse_args(["--mixing.arms", "[curated,r1_zero]", "--mixing.eval_k", "2"], cls=LanguageMixingConfig)
    assert cfg.mixing.arms == ["curated", "r1_zero"] and cfg.mixing.eval_k == 2


def test_help_is_built_from_the_field_docstrings(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(["--help"], cls=R1Config)
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for section in fields(R1Config):
        for f in fields(section.default_factory):
            assert f"--{section.name}.{f.name}" in out, f"{section.name}.{f.name}"
    assert "Checkpoint every N steps" in out and "Samples per held-out problem" in out
    assert "Run the rejection-sampling SFT round after GRPO" in out  # a section only R1Config has
    assert "--config" in out and "YAML file with some or all of the sections" in out
