"""Memory: the process's peak per phase of a step, and the memory the machine has.

On a CPU the number that decides whether a run fits is the process's resident peak (what ``/usr/bin/time -v``
reports as "Maximum resident set size"). Linux keeps it as ``VmHWM`` in ``/proc/self/status``; :class:`PeakMemory`
attributes it to the phase of a step (rollout, frozen log-probs, forward/backward, optimizer) or the evaluation that
raised it, and samples the resident size of the others, in the process itself. It never resets ``VmHWM`` (writing
``5`` to ``/proc/self/clear_refs`` would, and ``/usr/bin/time -v`` would then report only the last phase's peak).
On CUDA it reads ``torch.cuda.max_memory_allocated`` instead (the tensors, not the allocator's cache). Elsewhere
(macOS, Windows) the peak is unknown and nothing is logged. Standard library and torch only.

glibc keeps what a process frees for reuse instead of returning it, so on a CPU the resident peak of a training step
also held what earlier phases freed; :func:`release_heap`, called before each phase, hands it back. The estimate of
the peak before the first step is at the end of the module.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

GIB = 2**30
_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), or None where there is none."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def resident_bytes() -> int | None:
    """The process's resident memory now (Linux), or None.

    >>> isinstance(resident_bytes(), (int, type(None)))
    True
    """
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def free_bytes(device: torch.device | str = "cpu") -> int | None:
    """Memory free right now: the GPU's free memory on CUDA, else the machine's ``MemAvailable`` (Linux), or None
    when unknown.

    >>> free_bytes() is None or free_bytes() > 0
    True
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_bytes(device: torch.device | str = "cpu") -> int | None:
    """Memory a run may still take: what is free (:func:`free_bytes`) plus what this process already holds (the
    GPU memory it allocated on CUDA, its resident memory on the CPU), or None when unknown."""
    device = torch.device(device)
    free = free_bytes(device)
    if free is None:
        return None
    held = torch.cuda.memory_allocated(device) if device.type == "cuda" else resident_bytes() or 0
    return free + int(held)


BATCH_MEMORY_SHARE = 0.5
"""The share of the free memory one generation batch's KV cache and logits may take (:func:`rows_that_fit`)."""


def rows_that_fit(per_row: int, limit: int, free: int | None, share: float = BATCH_MEMORY_SHARE) -> int:
    """How many sequences to generate at once: ``limit``, or fewer when ``limit`` rows of ``per_row`` bytes each
    would take more than ``share`` of the ``free`` bytes (None: unknown, ``limit``); at least 1.

    >>> rows_that_fit(per_row=100, limit=64, free=1000)
    5
    >>> rows_that_fit(per_row=100, limit=64, free=None), rows_that_fit(per_row=100, limit=64, free=10)
    (64, 1)
    """
    if free is None:
        return limit
    return max(1, min(limit, int(free * share) // max(per_row, 1)))


def release_heap() -> bool:
    """Hand the heap that freed blocks left behind back to the system (glibc's ``malloc_trim``); True if some was.

    glibc keeps freed memory inside the process's heaps for reuse; after a training step's phases have freed their
    activations, logits and gradients, a CPU run kept much of it resident (measured: docs/benchmarks.md,
    memory), and the next phase's peak stood on top of it. :class:`PeakMemory` calls this before each phase, so a
    phase's peak is what is alive plus what the phase itself allocates. Nothing happens off Linux or without glibc.

    >>> release_heap() in (True, False)
    True
    """
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False  # 0: keep no free pad at the heap's top


@functools.cache
def _glibc():
    """glibc through ``ctypes``, loaded once (None off Linux or with another C library, e.g. musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 (musl has none)
    except (OSError, AttributeError):
        return None
    return libc


class PeakMemory:
    """Peak memory of successive phases of one process, in GiB.

    ``with peaks.phase("rollout"): ...`` runs the block and records the block's peak as ``peaks.gib["rollout"]`` (the
    largest, if the phase runs several times). On a CPU the peak is the whole process's resident memory (weights and
    optimizer state included, as ``/usr/bin/time -v`` counts it); on CUDA the allocated GPU memory. ``peaks.gib``
    stays empty where the peak cannot be read.

    On a CPU the process's high-water mark (``VmHWM``) is never reset, so ``/usr/bin/time -v`` still reports the
    whole command's peak: a phase that raises the high-water mark gets it exactly, and the largest of all phases
    (``memory/peak_gib``) is the process's peak so far; a phase that stays below an earlier peak gets the largest
    resident size a background thread sampled every ``interval_s`` during it (a lower bound: a spike shorter than
    the interval can be missed). Before each phase the heap that earlier blocks freed is handed back to the system
    (:func:`release_heap`), so a phase's peak is what is alive plus what the phase allocates.

    >>> peaks = PeakMemory("cpu")
    >>> with peaks.phase("alloc"):
    ...     block = torch.ones(2**25)  # 128 MiB
    >>> not peaks.gib or peaks.gib["alloc"] >= 0.125
    True
    """

    def __init__(self, device: torch.device | str = "cpu", interval_s: float = 0.005):
        self.device = torch.device(device)
        self.interval_s = interval_s
        self.gib: dict[str, float] = {}
        self.enabled = self.device.type == "cuda" or _status_kib("VmHWM") is not None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record the peak of the block as ``gib[name]`` (also when the block raises)."""
        if not self.enabled:
            yield
            return
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            try:
                yield
            finally:
                self._record(name, torch.cuda.max_memory_allocated(self.device) / GIB)
            return
        release_heap()  # what earlier phases freed is not this phase's
        start_hwm = _status_kib("VmHWM") or 0
        sampled = [_status_kib("VmRSS") or 0]  # largest resident size seen during the block, KiB
        done = threading.Event()

        def sample() -> None:
            while not done.wait(self.interval_s):
                sampled[0] = max(sampled[0], _status_kib("VmRSS") or 0)

        thread = threading.Thread(target=sample, name="minirl-peak-memory", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            end_hwm = _status_kib("VmHWM") or 0
            peak = end_hwm if end_hwm > start_hwm else max(sampled[0], _status_kib("VmRSS") or 0)
            self._record(name, peak / 2**20)

    def _record(self, name: str, peak: float) -> None:
        self.gib[name] = max(peak, self.gib.get(name, 0.0))

    def metrics(self, prefix: str = "memory/", peak: bool = True) -> dict[str, float]:
        """``{"memory/<phase>_gib": peak}`` for each phase, plus (``peak``) ``memory/peak_gib``, their maximum."""
        out = {f"{prefix}{name}_gib": value for name, value in self.gib.items()}
        if peak and self.gib:
            out[f"{prefix}peak_gib"] = max(self.gib.values())
        return out


# ---------------------------------------------------------------------------------------------------------------------
# The estimate before the first step

RUNTIME_BYTES = int(0.45 * GIB)
"""Python, torch, transformers and the tokenizer before any tensor (measured: ``docs/benchmarks.md``, memory)."""
ACTIVATION_FLOATS = 16
"""Floats kept per token, per layer and per hidden unit for the backward pass without checkpointing (measured on
SmolLM2-135M; a layer keeps its norms, projections, attention and MLP inputs)."""


@dataclass
class ModelShape:
    """What the estimate needs to know of a model: its parameters and the sizes of its layers."""

    params: int
    """All parameters (tied ones once)."""
    trainable: int
    """Parameters with gradients (LoRA: the adapter's)."""
    bytes_per_param: int
    layers: int
    hidden: int
    intermediate: int
    kv_width: int
    """Keys (or values) per token per layer: ``num_key_value_heads * head_dim``."""
    vocab: int

    @classmethod
    def of(cls, model: torch.nn.Module) -> ModelShape:
        """The shape of a ``transformers`` causal LM (or a peft wrapper of one).

        >>> from minirl.testing import make_tiny_model
        >>> ModelShape.of(make_tiny_model(vocab_size=16)).layers
        2
        """
        config = model.config
        params = {id(p): p for p in model.parameters()}.values()
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(
            params=sum(p.numel() for p in params),
            trainable=sum(p.numel() for p in params if p.requires_grad),
            bytes_per_param=next(iter(params)).element_size(),
            layers=config.num_hidden_layers,
            hidden=config.hidden_size,
            intermediate=getattr(config, "intermediate_size", 4 * config.hidden_size),
            kv_width=getattr(config, "num_key_value_heads", heads) * head_dim,
            vocab=config.vocab_size,
        )

    def kv_bytes(self, rows: int, tokens: int) -> int:
        """A KV cache of ``rows`` sequences of ``tokens`` (fp32 keys and values, every layer)."""
        return rows * tokens * self.layers * 2 * self.kv_width * 4

    def generation_bytes(self, rows: int, tokens: int) -> int:
        """What decoding ``rows`` sequences of up to ``tokens`` (prompt included) at once holds: their KV cache and two
        rows of fp32 logits each (the step's logits and the sampler's working copy)."""
        return self.kv_bytes(rows, tokens) + 2 * rows * self.vocab * 4


@dataclass
class MemoryEstimate:
    """A run's peak memory, estimated before its first step (bytes): what it holds all the time, and what each phase
    adds on top (the phases run one after another, so the peak is that of the largest phase: what it holds of the
    static part plus what it adds).

    >>> est = MemoryEstimate({"weights": 2, "optimizer": 4}, {"update": 3, "evaluation": 6},
    ...                      not_held={"evaluation": {"optimizer"}})
    >>> est.peak, est.largest_phase
    (9, 'update')
    """

    static: dict[str, int]
    phases: dict[str, int]
    available: int | None = None
    advice: list[str] = field(default_factory=list)
    not_held: dict[str, set[str]] = field(default_factory=dict)
    """Per phase, the parts of ``static`` it runs without (the evaluations run without the optimizer state: the
    start one before the first update allocates it, the end one after the run frees it)."""

    def phase_bytes(self, name: str) -> int:
        """The peak of phase ``name``: what it holds of ``static`` plus what it adds."""
        skip = self.not_held.get(name, set())
        return sum(v for k, v in self.static.items() if k not in skip) + self.phases[name]

    @property
    def peak(self) -> int:
        return max((self.phase_bytes(name) for name in self.phases), default=sum(self.static.values()))

    @property
    def largest_phase(self) -> str:
        return max(self.phases, key=self.phase_bytes) if self.phases else ""

    @property
    def fits(self) -> bool:
        """True when the peak fits the memory available (or that is unknown)."""
        return self.available is None or self.peak <= self.available

    def table(self) -> str:
        """The estimate as a few lines for the console."""
        gib = lambda b: f"{b / GIB:.2f}"  # noqa: E731
        held = ", ".join(f"{k} {gib(v)}" for k, v in self.static.items() if v)
        phases = ", ".join(
            f"{k} +{gib(v)}" + "".join(f" (without {x})" for x in sorted(self.not_held.get(k, ())))
            for k, v in self.phases.items()
        )
        room = "unknown" if self.available is None else f"{gib(self.available)} GiB"
        verdict = "fits" if self.fits else "DOES NOT FIT"
        lines = [
            f"[minirl] memory estimate: peak {gib(self.peak)} GiB ({self.largest_phase}) of {room} available: {verdict}",
            f"  held throughout (GiB): {held}",
            f"  each phase adds (GiB): {phases}",
        ]
        lines += [f"  - {a}" for a in self.advice]
        return "\n".join(lines)


LOGIT_BLOCKS = 3
"""``[chunk, V]`` float32 blocks the chunked LM head holds at once in its backward pass (logits, softmax, gradient)."""


def _update_bytes(
    shape: ModelShape, rows: int, tokens: int, prompts: int, checkpointing: bool, chunk: int
) -> int:
    """What one micro-batch's forward and backward adds: the gradients, the activations kept for the backward pass
    (all of them, or with checkpointing each layer's input plus one layer's), ``prompts`` bytes for the prompts'
    prefill and the LM head's blocks of logits."""
    per_layer = shape.hidden * ACTIVATION_FLOATS * 4  # bytes per token per layer, kept for the backward pass
    completion = rows * tokens
    if checkpointing:
        kept = completion * shape.layers * shape.hidden * 4 * 2 + completion * per_layer
    else:
        kept = completion * shape.layers * per_layer
    return shape.trainable * 4 + kept + prompts + LOGIT_BLOCKS * chunk * shape.vocab * 4


def estimate_memory(
    shape: ModelShape,
    cfg,
    prompt_tokens: int,
    available: int | None = None,
    chunk: int = 256,
    mapped_reference: bool = False,
) -> MemoryEstimate:
    """Estimate the peak memory of a run of ``cfg`` (a ``TrainConfig``) with a model of ``shape`` whose prompts are at
    most ``prompt_tokens`` tokens, and, when it does not fit ``available`` bytes, which setting to change and to what.
    ``mapped_reference``: the reference copy is mapped from a file only for the frozen log-probs
    (:mod:`minirl.trainer.reference`, on the CPU), so it counts in that phase alone.

    >>> from minirl.config import TrainConfig
    >>> shape = ModelShape(params=135_000_000, trainable=135_000_000, bytes_per_param=4, layers=30, hidden=576,
    ...                    intermediate=1536, kv_width=192, vocab=49152)
    >>> est = estimate_memory(shape, TrainConfig(), prompt_tokens=150, available=1 * GIB)
    >>> est.fits, est.advice[0].startswith("the weights, the optimizer")
    (False, True)
    """
    r, o = cfg.rollout, cfg.optim
    weights = shape.params * shape.bytes_per_param
    engine_bytes = {"bf16": 2, "fp32": 4}.get(r.engine, 0)
    reference = weights if cfg.needs_reference_copy else 0
    static = {
        "runtime": RUNTIME_BYTES,
        "weights": weights,
        "reference": 0 if mapped_reference else reference,
        "sampler copy": shape.params * engine_bytes,
        "optimizer": 2 * shape.trainable * 4,
    }
    rows = r.prompts_per_step * r.num_generations
    micro = min(o.micro_batch_size or rows, rows)
    eval_tokens = cfg.eval_max_new_tokens
    eval_rows = cfg.eval.batch_size
    checkpointing = cfg.model.gradient_checkpointing

    def update(m: int) -> int:
        if (
            m < rows
        ):  # micro-batches read one prefill of the prompts (minirl.grpo.SharedPrompts): its K/V + gradient
            prompts = 2 * shape.kv_bytes(r.prompts_per_step, prompt_tokens)
        else:  # one batch: the prompts' activations, kept for the backward pass
            prompts = r.prompts_per_step * prompt_tokens * shape.layers * shape.hidden * ACTIVATION_FLOATS * 4
        return _update_bytes(shape, m, r.max_new_tokens, prompts, checkpointing, chunk)

    def evaluation(rows_: int) -> int:
        return shape.generation_bytes(rows_, prompt_tokens + eval_tokens)

    phases = {
        "rollout": shape.generation_bytes(rows, prompt_tokens + r.max_new_tokens),
        "forward_backward": update(micro),
    }
    if mapped_reference and reference:
        phases["frozen_logps (reference mapped)"] = reference
    not_held = {}
    if cfg.data.eval_size and (cfg.eval.at_start or cfg.eval.at_end or cfg.eval.every):
        phases["evaluation"] = evaluation(eval_rows)
        if not cfg.eval.every:  # only the start and end evaluations: no optimizer state then
            not_held["evaluation"] = {"optimizer"}
    est = MemoryEstimate(static, phases, available, not_held=not_held)
    if available is None or est.fits:
        return est
    room = available - sum(static.values())
    eval_room = room + sum(static[k] for k in not_held.get("evaluation", ()))
    gb = lambda b: f"{b / GIB:.1f} GiB"  # noqa: E731
    if room <= 0:
        est.advice.append(
            f"the weights, the optimizer state and the reference model alone need {gb(sum(static.values()))}: "
            "train a LoRA adapter (--model.lora true: no optimizer state for the base weights, no reference "
            "copy) or drop the KL anchor (--grpo.beta 0: no reference copy)"
        )
        return est
    if phases["forward_backward"] > room:
        fit = next((m for m in range(micro - 1, 0, -1) if update(m) <= room), None)
        if fit:
            est.advice.append(f"the update does not fit: --optim.micro_batch_size {fit} (now {micro})")
        if not checkpointing:
            est.advice.append(
                f"{'or ' if fit else 'the update does not fit: '}recompute activations in the backward pass: "
                "--model.gradient_checkpointing true"
            )
    if phases.get("evaluation", 0) > eval_room:
        fit = next((b for b in range(eval_rows - 1, 0, -1) if evaluation(b) <= eval_room), 1)
        est.advice.append(f"the evaluation does not fit: --eval.batch_size {fit} (now {eval_rows})")
    if phases["rollout"] > room:
        per_prompt = shape.kv_bytes(r.num_generations, prompt_tokens + r.max_new_tokens)
        fit = max(1, int(room // max(per_prompt, 1)))
        fewer = (
            f"--rollout.prompts_per_step {fit} (now {r.prompts_per_step}) or "
            if fit < r.prompts_per_step
            else ""
        )
        est.advice.append(f"the rollout does not fit: {fewer}a lower --rollout.max_new_tokens")
    return est
