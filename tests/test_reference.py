"""pi_ref mapped from a file (minirl.trainer.reference): the same log-probs as the in-memory copy, no weights in the
process between uses, the file gone when the run ends, and the in-memory copy when no file can be written."""

from __future__ import annotations

import copy

import pytest
import torch

from minirl.grpo import grouped_completion_logprobs
from minirl.testing import make_tiny_model
from minirl.trainer.reference import MappedReference, Reference, make_reference


def _logps(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(3, 60, (2, 5), generator=g)  # [B, P]
    completion = torch.randint(3, 60, (4, 6), generator=g)  # [B*G, C]
    lp, _ = grouped_completion_logprobs(
        model,
        prompt,
        torch.ones_like(prompt),
        completion,
        torch.ones_like(completion),
        torch.tensor([0, 0, 1, 1]),
    )
    return lp  # [B*G, C]


def test_mapped_reference_gives_the_in_memory_copys_logprobs(tmp_path):
    policy = make_tiny_model(vocab_size=64, seed=3)
    assert policy.get_input_embeddings().weight is policy.get_output_embeddings().weight  # tied, as SmolLM2
    in_memory = Reference(copy.deepcopy(policy).eval().requires_grad_(False))
    mapped = make_reference(policy, tmp_path)
    assert isinstance(mapped, MappedReference)
    with torch.no_grad():
        policy.model.layers[0].mlp.up_proj.weight.add_(1.0)  # the policy moves on; the reference must not
    with in_memory.use() as a, mapped.use() as b, torch.no_grad():
        assert b.get_input_embeddings().weight is b.get_output_embeddings().weight  # still tied while mapped
        assert torch.equal(_logps(a), _logps(b))
        assert not torch.equal(_logps(policy), _logps(b))
    assert {p.device.type for p in mapped.model.parameters()} == {"meta"}  # unmapped after the block
    with mapped.use() as b, in_memory.use() as a, torch.no_grad():  # and mapped again, the same
        assert torch.equal(_logps(a, seed=1), _logps(b, seed=1))


def test_the_weights_file_goes_with_the_reference(tmp_path):
    mapped = make_reference(make_tiny_model(vocab_size=64), tmp_path, rank=1)
    path = tmp_path / "reference.rank1.safetensors"
    assert mapped.path == path and path.exists()
    assert not list(tmp_path.glob("*.tmp"))
    mapped.close()
    assert not path.exists()


def test_no_file_no_mapping_but_a_warning(tmp_path):
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    with pytest.warns(UserWarning, match="kept in memory"):
        ref = make_reference(make_tiny_model(vocab_size=64), blocked)
    assert type(ref) is Reference
    assert {p.device.type for p in ref.model.parameters()} == {"cpu"}
