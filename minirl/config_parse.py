"""Reading a :mod:`minirl.config` config from YAML and the command line; each error is a one-line
:class:`~minirl.config_checks.ConfigError` that names the field.

Parsing is `jsonargparse <https://jsonargparse.readthedocs.io>`_'s own, as in litgpt: ``--config FILE.yaml`` (its
``ActionConfigFile``), then ``--section.field VALUE`` overrides, which win over the file, e.g.::

    accelerate launch recipes/r1_zero.py --config recipes/configs/r1_zero_smollm2_cpu.yaml --rollout.max_new_tokens 96

A value is YAML: ``--model.lora true``, ``--run.report_to '[tensorboard, wandb]'``, ``--grpo.rewards '{accuracy:
1}'``, ``--data.train_size null``. A value that does not fit its field is refused with jsonargparse's message. Each
field's docstring is its ``--help`` (jsonargparse's attribute-docstring support).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentError, ArgumentParser, Namespace, set_parsing_settings

from minirl.config import TrainConfig
from minirl.config_checks import ConfigError, _check

C = typing.TypeVar("C", bound=TrainConfig)
"""A config class: :class:`TrainConfig` or a subclass that adds sections (the R1 pipeline's)."""


class _ConfigFile(ActionConfigFile):
    """jsonargparse's ``--config``, whose errors name the file (``argument --config: FILE: <message>``): it checks
    the file's keys at once (jsonargparse would at the end) and refuses a section that is not a mapping (``run: 5``)."""

    def __call__(self, parser, cfg, values, option_string=None):
        sections = [name for name, value in vars(cfg).items() if isinstance(value, Namespace)]
        try:
            super().__call__(parser, cfg, values, option_string)
            _sections_are_mappings(cfg, sections)
            parser.validate(cfg)
        except (ArgumentError, TypeError, KeyError, ValueError) as err:
            raise ArgumentError(self, f"{values}: {err}") from None


def _sections_are_mappings(cfg: Namespace, sections: typing.Iterable[str]) -> None:
    bad = {name: cfg.get(name) for name in sections if not isinstance(cfg.get(name), Namespace)}
    _check(not bad, f"Config sections must be mappings of fields, got {bad}")


@functools.cache
def _parser(cls: type) -> ArgumentParser:
    """The jsonargparse parser of ``cls`` (one ``--section.field`` per field, help from the docstrings), built once."""
    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    sectioned = any(dataclasses.is_dataclass(hint) for hint in typing.get_type_hints(cls).values())
    option, parts = ("--section.field", "sections") if sectioned else ("--field", "fields")
    usage = f"{cls.__doc__} Usage: [--config FILE.yaml] [{option} VALUE ...]"
    parser = ArgumentParser(description=usage, exit_on_error=False, default_env=False, print_config=None)
    config_help = f"YAML file with some or all of the {parts} below; the {option} options after it win"
    parser.add_argument("--config", action=_ConfigFile, help=config_help)
    parser.add_class_arguments(cls, fail_untyped=True)
    return parser


def _parse(parse: Callable[..., Namespace], *args: Any, **kwargs: Any) -> Namespace:
    """``parse(*args, **kwargs)``, a jsonargparse parse method, whose error becomes a one-line :class:`ConfigError`."""
    try:
        return parse(*args, **kwargs)
    except ArgumentError as err:
        raise ConfigError(" ".join(str(err).split())) from None


def _instantiate(cls: type[C], parsed: Namespace) -> C:
    built = _parser(cls).instantiate(parsed)  # each section's __post_init__ checks it
    return cls(**{f.name: built[f.name] for f in fields(cls)})


def config_from_dict(
    data: dict, overrides: list[tuple[str, str]] | None = None, cls: type[C] = TrainConfig
) -> C:
    """Build a validated config of class ``cls`` (:class:`TrainConfig` or a subclass with more sections) from a
    nested dict (a YAML file's content) and ``(section.field, value)`` overrides.

    >>> config_from_dict({"run": {"max_steps": 3}}, [("eval.k", "4")]).eval.k
    4
    """
    parser = _parser(cls)
    _check(isinstance(data, dict), f"A config must be a mapping of sections, got {data!r}")
    parsed = _parse(parser.parse_object, data)
    _sections_are_mappings(parsed, [f.name for f in fields(cls)])
    argv = [f"--{key}={value}" for key, value in overrides or []]
    return _instantiate(cls, _parse(parser.parse_args, argv, namespace=parsed))


def parse_args(argv: list[str], default_config: str | Path | None = None, cls: type[C] = TrainConfig) -> C:
    """Parse ``[--config FILE] [--section.field VALUE ...]`` into a ``cls`` config, with jsonargparse.

    ``default_config`` is the file read when ``argv`` has no ``--config``. ``--help`` prints every field and exits.

    >>> cfg = parse_args(["--run.max_steps", "3", "--model.lora", "true", "--run.report_to", "[wandb]"])
    >>> cfg.run.max_steps, cfg.model.lora, cfg.run.report_to
    (3, True, ['wandb'])
    """
    parser, argv = _parser(cls), list(argv)
    parsed = _parse(parser.parse_args, argv)
    if default_config is not None and not parsed.get("config"):
        parsed = _parse(parser.parse_args, ["--config", str(default_config), *argv])
    return _instantiate(cls, parsed)


D = typing.TypeVar("D")


def parse_fields(cls: type[D], argv: list[str]) -> D:
    """Parse ``[--config FILE] [--field VALUE ...]`` into ``cls``, a dataclass of plain fields (no sections, e.g. the
    evaluation CLI's ``minirl.eval.__main__.EvalArgs``), with the parser and errors of :func:`parse_args`: each
    field's docstring is its ``--help``, a value is YAML, and a bad option or value (``cls.__post_init__`` included)
    is a one-line :class:`ConfigError`.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Args:
    ...     k: int = 1
    >>> parse_fields(Args, ["--k", "4"])
    Args(k=4)
    >>> parse_fields(Args, ["--k", "many"])
    Traceback (most recent call last):
    minirl.config_checks.ConfigError: Parser key "k": Expected a <class 'int'>. Got value: many
    """
    return _instantiate(cls, _parse(_parser(cls).parse_args, list(argv)))


def help_text(cls: type | None = None) -> str:
    """The ``--help`` text of ``cls`` (default :class:`TrainConfig`): every field, its default and docstring."""
    return _parser(cls or TrainConfig).format_help()
