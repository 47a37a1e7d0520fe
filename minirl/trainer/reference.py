"""The frozen reference policy of the KL term, resident only while it is used.

DeepSeekMath (arXiv:2402.03300) eq. 3 penalises the policy's divergence from pi_ref, the model before RL; GRPO needs
pi_ref's log-probs once per step (the frozen phase, before the policy's forward/backward). With full fine-tuning and
``beta > 0`` the reference is a frozen copy of the weights, and kept in the process's heap that copy (its size for
SmolLM2-135M: docs/benchmarks.md, section Memory) also sits through the forward/backward phase, which sets a step's
peak memory.

On the CPU the copy is written once to a safetensors file in the run directory and mapped from it for each use
(:meth:`Reference.use`): its pages are the file's, read from the page cache without a copy into the heap, and they
leave the process when the mapping closes, so the forward/backward phase runs without them. The bytes are the
weights' own, so pi_ref's log-probs are identical to the in-memory copy's (``tests/test_reference.py``). On an
accelerator, or when the file cannot be written, the copy stays in memory. With LoRA there is no copy at all (the
base model with the adapter disabled is the reference; ``minirl.trainer.update``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file


class Reference:
    """pi_ref as a frozen copy held in memory (on the policy's device)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model

    @contextlib.contextmanager
    def use(self) -> Iterator[torch.nn.Module]:
        """The reference model, ready for a forward pass, inside the ``with`` block."""
        yield self.model

    def close(self) -> None:
        """Release what the reference keeps outside the process (nothing here)."""


class MappedReference(Reference):
    """pi_ref with its weights in a safetensors file, mapped into the process only inside :meth:`use`.

    >>> import tempfile
    >>> from minirl.testing import make_tiny_model
    >>> policy = make_tiny_model(vocab_size=16)
    >>> ref = MappedReference(policy, Path(tempfile.mkdtemp()) / "reference.safetensors")
    >>> next(ref.model.parameters()).device.type  # no weights in memory between uses
    'meta'
    >>> with ref.use() as model:
    ...     torch.equal(next(model.parameters()), next(policy.parameters()))
    True
    >>> ref.close(); ref.path.exists()
    False
    """

    def __init__(self, model: torch.nn.Module, path: Path):
        self.path = Path(path)
        unique = dict(model.named_parameters())  # tied weights once, under their first name
        tmp = self.path.with_name(self.path.name + ".tmp")
        save_file({k: p.detach().contiguous() for k, p in unique.items()}, str(tmp))  # may raise OSError
        os.replace(tmp, self.path)
        meta = lambda p: torch.nn.Parameter(p.detach().to("meta"), requires_grad=False)  # noqa: E731
        self._empty = {k: meta(p) for k, p in unique.items()}
        # the copy gets the meta parameters in place of the weights (deepcopy's memo): no second copy of the weights
        skeleton = copy.deepcopy(model, {id(p): self._empty[k] for k, p in unique.items()}).eval()
        key = {id(p): k for k, p in self._empty.items()}
        self._slots = [  # (module, attribute, key) of every parameter slot: tied ones share a key
            (skeleton.get_submodule(owner), attr, key[id(p)])
            for name, p in skeleton.named_parameters(remove_duplicate=False)
            for owner, _, attr in [name.rpartition(".")]
        ]
        # the file goes with this object, at the latest when Python exits
        self._delete = weakref.finalize(self, self.path.unlink, missing_ok=True)
        super().__init__(skeleton)

    def _assign(self, params: dict[str, torch.nn.Parameter]) -> None:
        for module, attr, key in self._slots:
            module._parameters[attr] = params[key]

    @contextlib.contextmanager
    def use(self) -> Iterator[torch.nn.Module]:
        """The reference with its weights mapped from the file; unmapped again when the block ends."""
        with safe_open(str(self.path), framework="pt") as f:
            params = {k: torch.nn.Parameter(f.get_tensor(k), requires_grad=False) for k in f.keys()}  # noqa: SIM118 (not a dict)
        self._assign(params)
        try:
            yield self.model
        finally:
            self._assign(self._empty)
            del params  # the last references to the mapping: its pages leave the process

    def close(self) -> None:
        """Delete the weights file now (otherwise when this object is collected, or when Python exits)."""
        self._delete()


def make_reference(model: torch.nn.Module, folder: Path, rank: int = 0) -> Reference:
    """pi_ref for ``model`` (the policy before any update): mapped from ``folder/reference.rank<rank>.safetensors``
    on the CPU, a frozen copy in memory elsewhere or when that file cannot be written (a warning says why)."""
    if next(model.parameters()).device.type == "cpu":
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return MappedReference(model, folder / f"reference.rank{rank}.safetensors")
        except OSError as err:
            warnings.warn(
                f"reference model kept in memory: its weights file could not be written ({err})", stacklevel=2
            )
    return Reference(copy.deepcopy(model).eval().requires_grad_(False))
