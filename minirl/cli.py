"""Entry-point glue shared by the recipes: a user's mistake ends with a one-line message and exit code 2.

Mistakes in the command line, the config or the data (an unknown field, a model or file that is not there, a run
directory that would be overwritten, a pre-flight check that fails, an optional package that is missing) raise
errors whose message already says what to do; a stack trace from deep inside would only hide it. Anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any

from minirl.config_checks import ConfigError
from minirl.diagnostics import PreflightFailed
from minirl.diagnostics.resources import NotEnoughMemory
from minirl.files import DiskFullError
from minirl.models import ModelNotFoundError
from minirl.tasks import DataError

USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    ModelNotFoundError,
    FileExistsError,
    FileNotFoundError,
    PreflightFailed,
    NotEnoughMemory,
    DiskFullError,
    DataError,
)
"""Errors reported as ``error: <message>`` with exit code 2 instead of a traceback (and a
:func:`optional_package_missing`)."""

OPTIONAL_PACKAGES = (
    "vllm",  # rollout.engine: vllm (minirl.backends.vllm_rollout)
    "trl",  # run.backend: trl, the SFT stages of minirl.r1 (minirl.backends.trl_backend, minirl.r1.s3_sft)
    "datasets",  # with TRL, and GSM8K from the Hub
    "peft",  # model.lora
    "math_verify",  # symbolic answers in rewards.accuracy_reward (extra "math")
    "py3langid",  # the langid backend of rewards.language (extra "langid")
    "deepspeed",  # recipes/accelerate/deepspeed_zero*.yaml
    "wandb",  # run.report_to trackers, through accelerate
    "tensorboard",
    "tensorboardX",
    "trackio",
)
"""The import names of the packages minirl imports only where a setting asks for them: a ``ModuleNotFoundError`` for
one of these (or a submodule) is a user's missing install, reported by :func:`run_main` as a one-line error."""


def optional_package_missing(err: ModuleNotFoundError) -> bool:
    """Whether ``err`` names one of :data:`OPTIONAL_PACKAGES` (an optional engine, tracker or backend, whose message
    says what to install), so that it is a user's missing install, not a bug of ours. Any other missing module (one
    of minirl's own, or a required dependency imported by a wrong name) keeps its traceback.

    >>> optional_package_missing(ModuleNotFoundError("pip install vllm", name="vllm"))
    True
    >>> optional_package_missing(ModuleNotFoundError("No module named 'minirl.gone'", name="minirl.gone"))
    False
    >>> optional_package_missing(ModuleNotFoundError("No module named 'torchh'", name="torchh"))
    False
    """
    return bool(err.name) and err.name.split(".")[0] in OPTIONAL_PACKAGES


def run_main(main: Callable[[list[str] | None], Any], argv: list[str] | None = None) -> None:
    """Call ``main(argv)``; on one of :data:`USER_ERRORS` print ``error: <message>`` to stderr and exit with 2.
    After a ``main`` that returned, its result is dropped and a distributed process group left open is torn down on
    every process (:func:`end_process_group`). Call the recipe's ``main`` itself to keep what it returns.

    >>> run_main(lambda argv: print("ran", argv), ["--run.seed", "1"])
    ran ['--run.seed', '1']
    >>> def bad(argv):
    ...     raise FileNotFoundError("no such file: data.jsonl")
    >>> try:
    ...     run_main(bad)
    ... except SystemExit as stop:
    ...     print("exit", stop.code)
    exit 2
    """
    try:
        main(argv)  # the result (a trainer, with the process group in its model wrapper) is not kept
    except (*USER_ERRORS, ModuleNotFoundError) as err:
        if isinstance(err, ModuleNotFoundError) and not optional_package_missing(err):
            raise  # a broken import of our own is a bug: keep its traceback
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    end_process_group()


def end_process_group() -> None:
    """After a run finished: wait for every process, free what still holds the distributed process group, then
    destroy it (``accelerate launch`` or ``torchrun`` with several processes; nothing happens in one process).

    The group's gloo threads stop only when the last reference to it goes: the DDP wrapper of a finished trainer
    sits in reference cycles that only the garbage collector frees. Left to the interpreter's exit, those threads
    are torn down in no fixed order and a rank can abort after training has finished ("terminate called without an
    active exception"), failing the launch.
    """
    dist = sys.modules.get("torch.distributed")  # only if torch was imported at all
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.barrier()
        gc.collect()  # the finished trainers' DDP wrappers: their references to the group
        dist.destroy_process_group()
        gc.collect()
