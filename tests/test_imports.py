"""Import hygiene, read from the source with ``ast``, so that imports inside functions count as much as those at the
top: the rewards package is standard library only (so torch-free); the GRPO training path needs neither trl nor
datasets (the lent GPU machine has neither); an R1 stage imports only the stages before it; and minirl imports its
own modules, and the standard library, at the top of each module.

An import of ``a.b.c`` (or ``from a.b import c``) counts as importing ``a``, ``a.b`` and ``a.b.c``, as Python runs
each package's ``__init__``. What a third-party package imports in turn is not followed: one check,
:func:`test_training_path_loads_no_trl_or_datasets`, imports the training path to look at ``sys.modules`` as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

from minirl.testing import HANG_TIMEOUT_S

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("minirl", "rewards")


@cache
def modules() -> dict[str, Path]:
    """Every module of minirl and rewards by dotted name (a package by its own name, for its ``__init__.py``)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``[a, a.b, a.b.c]``: importing a module runs the ``__init__`` of each package above it."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[str, bool, int]]:
    """``(imported module, inside a function, line)`` for each import statement in ``source``.

    Relative imports are resolved against ``module``; ``from X import Y`` gives ``X``, and ``X.Y`` as well when that
    is a module of ours (``from minirl.trainer import checkpoint``).

    >>> imports_of("import a.b\\ndef f():\\n    from . import testing", "minirl.x")
    [('a.b', False, 1), ('minirl', True, 3), ('minirl.testing', True, 3)]
    """
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                out.extend((alias.name, in_function, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = child.module or ""
                if child.level:
                    parts = module.split(".")
                    target = ".".join(
                        parts[: len(parts) - child.level + is_package] + ([target] if target else [])
                    )
                out.append((target, in_function, child.lineno))
                out.extend(
                    (f"{target}.{a.name}", in_function, child.lineno)
                    for a in child.names
                    if f"{target}.{a.name}" in modules()
                )
            visit(
                child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            )

    visit(ast.parse(source), False)
    return out


@cache
def direct_imports(module: str) -> tuple[tuple[str, bool, int], ...]:
    path = modules()[module]
    return tuple(imports_of(path.read_text(), module, path.name == "__init__.py"))


def reachable(start: str, skip=()) -> dict[str, str]:
    """Every module that importing ``start`` and calling its functions can import, with the chain that leads to it.

    Imports at the top and inside functions are followed through our modules; third-party and standard library
    modules are leaves. ``skip`` holds ``(importer, imported)`` pairs not to follow.
    """
    chains = {name: name for name in with_parents(start)}
    todo = list(chains)
    while todo:
        current = todo.pop()
        if current not in modules():
            continue
        for target, in_function, line in direct_imports(current):
            if (current, target) in skip:
                continue
            where = f"{current}:{line}{' (in a function)' if in_function else ''}"
            for name in with_parents(target):
                if name not in chains:
                    chains[name] = f"{chains[current]} -> {name} [{where}]"
                    todo.append(name)
    return chains


def within(name: str, prefixes) -> bool:
    """``name`` is one of ``prefixes`` or a module inside one."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def broken(start: str, forbidden, skip=()) -> list[str]:
    """The chains from ``start`` to a module within ``forbidden``."""
    return sorted(chain for name, chain in reachable(start, skip).items() if within(name, forbidden))


def _third_party(name: str) -> bool:
    top = name.split(".")[0]
    return top not in PACKAGES and top not in sys.stdlib_module_names and top != "__future__"


def test_rewards_imports_only_the_standard_library():
    """``import rewards`` loads no torch, transformers or numpy, and rewards imports nothing from minirl: it imports
    only the standard library and itself, anywhere in its source (``math-verify`` and ``py3langid`` are found with
    ``importlib`` when used)."""
    bad = [
        f"{module} imports {name} (line {line})"
        for module in modules()
        if within(module, ["rewards"])
        for name, _, line in direct_imports(module)
        if _third_party(name) or within(name, ["minirl"])
    ]
    assert not bad, "\n".join(bad)


TRAINING_PATH = (
    "minirl.trainer",
    "minirl.eval.runner",
    "minirl.diagnostics",
    "minirl.models",
    "minirl.tasks",
)
# (importer, imported) pairs the rule below lets through, each with its reason.
TRAINING_PATH_ALLOWED = {
    ("minirl.tasks.gsm8k", "datasets"): "only to download GSM8K from the Hub (a local copy needs none)",
}


def test_training_path_needs_no_trl_or_datasets():
    """Nothing the trainer, the evaluation runner, the diagnostics, model loading or the tasks import, at the top or
    inside a function, is trl or datasets (or imports them), but for the pairs in ``TRAINING_PATH_ALLOWED``."""
    for start in TRAINING_PATH:
        chains = broken(start, ["trl", "datasets"], skip=TRAINING_PATH_ALLOWED)
        assert not chains, "\n".join(chains)


def test_training_path_loads_no_trl_or_datasets():
    """The same at run time, for what the AST does not follow: the third-party packages the path imports must not
    load trl or datasets either."""
    code = (
        f"import sys, {', '.join(TRAINING_PATH)}\n"
        "print(sorted(m for m in ('trl', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_config_declares_and_validates_without_a_parser():
    """``minirl.config`` (the sections and their checks) imports neither jsonargparse nor ``minirl.config_parse``,
    which reads a config from YAML and the command line and imports it in turn."""
    chains = broken("minirl.config", ["jsonargparse", "minirl.config_parse"])
    assert not chains, "\n".join(chains)
    assert "minirl.config" in reachable("minirl.config_parse")


# The R1 pipeline's stages, in order (minirl/r1/s1_pool ... s5_rejection; stage 4's RL loop is minirl.trainer), and
# the modules that string them together, which no stage may import.
R1_ORCHESTRATION = ("minirl.r1.config", "minirl.r1.pipeline", "minirl.r1.mixing")
STAGES = {  # an R1 stage imports earlier stages only (and never the orchestration)
    "minirl.r1.s1_pool": (
        "minirl.r1.s2_curate",
        "minirl.r1.s3_sft",
        "minirl.trainer",
        "minirl.r1.s4_grpo",
        "minirl.r1.s5_rejection",
        *R1_ORCHESTRATION,
    ),
    "minirl.r1.s2_curate": (
        "minirl.r1.s1_pool",
        "minirl.r1.s3_sft",
        "minirl.trainer",
        "minirl.r1.s4_grpo",
        "minirl.r1.s5_rejection",
        *R1_ORCHESTRATION,
    ),
    "minirl.r1.s3_sft": (
        "minirl.r1.s1_pool",
        "minirl.r1.s2_curate",
        "minirl.trainer",
        "minirl.r1.s4_grpo",
        "minirl.r1.s5_rejection",
        *R1_ORCHESTRATION,
    ),
    "minirl.trainer": ("minirl.r1",),  # RL knows nothing of how its starting model was made
    "minirl.r1.s4_grpo": (
        "minirl.r1.s1_pool",
        "minirl.r1.s2_curate",
        "minirl.r1.s3_sft",
        "minirl.r1.s5_rejection",
        *R1_ORCHESTRATION,
    ),
    "minirl.r1.s5_rejection": ("minirl.r1.s1_pool", "minirl.trainer", "minirl.r1.s4_grpo", *R1_ORCHESTRATION),
}


def test_r1_stages_import_only_what_comes_before_them():
    """No module of a stage imports (at the top or inside a function, directly or through other minirl modules) a
    module of the stages ``STAGES`` lists for it."""
    for stage, later in STAGES.items():
        for module in modules():
            if within(module, [stage]):
                chains = broken(module, later)
                assert not chains, "\n".join(chains)


def test_every_r1_stage_has_its_import_rule_and_its_number():
    """The stage modules of ``minirl/r1`` are ``s1_*`` to ``sN_*``, one per number with none missing, and ``STAGES``
    has a rule for each (so a new stage gets one)."""
    stages = sorted(
        path.stem for path in (ROOT / "minirl" / "r1").iterdir() if path.name[:1] == "s" and "_" in path.name
    )
    stages = [name for name in stages if name.split("_")[0][1:].isdigit()]
    assert [int(name.split("_")[0][1:]) for name in stages] == list(range(1, len(stages) + 1)), stages
    assert [f"minirl.r1.{name}" for name in stages] == [
        name for name in STAGES if name.startswith("minirl.r1.")
    ]


# Imports of our own modules that stay inside functions, each with its reason.
LAZY_OWN: dict[tuple[str, str], str] = {}


def test_minirl_imports_its_own_modules_and_the_standard_library_at_the_top():
    """Inside a function minirl imports only third-party packages (optional ones, or slow ones a module loads only
    when used), so that what importing a module of minirl loads is what its top says; ``LAZY_OWN`` lists the
    exceptions."""
    bad = [
        f"{module}:{line} imports {name} inside a function"
        for module in modules()
        if within(module, ["minirl"])
        for name, in_function, line in direct_imports(module)
        if in_function and not _third_party(name) and (module, name) not in LAZY_OWN
    ]
    assert not bad, "\n".join(bad)
