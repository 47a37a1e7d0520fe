"""The tensors one policy update needs, with each distinct prompt stored once (see ``grouped_completion_logprobs``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from minirl.rollout.generate import Rollout


@dataclass
class PolicyBatch:
    """Completions with their advantages; ``group_index`` maps each completion row to its prompt row."""

    prompt_ids: torch.Tensor  # [B, P] distinct prompts, left-padded
    prompt_mask: torch.Tensor  # [B, P]
    completion_ids: torch.Tensor  # [N, C]
    completion_mask: torch.Tensor  # [N, C]
    group_index: torch.Tensor  # [N] row of prompt_ids for each completion
    advantages: torch.Tensor  # [N]
    old_logps: torch.Tensor | None = None  # [N, C] when mu > 1 or several minibatches
    ref_logps: torch.Tensor | None = None  # [N, C] when beta > 0
    sampling_logps: torch.Tensor | None = None  # [N, C] the sampler's, when it is not the trained policy

    @property
    def size(self) -> int:
        return self.completion_ids.shape[0]

    @classmethod
    def from_rollout(cls, roll: Rollout, advantages: torch.Tensor) -> PolicyBatch:
        g = roll.num_generations
        n = roll.completion_ids.shape[0]
        return cls(
            prompt_ids=roll.prompt_ids[::g],
            prompt_mask=roll.prompt_mask[::g],
            completion_ids=roll.completion_ids,
            completion_mask=roll.completion_mask,
            group_index=torch.arange(n, device=roll.completion_ids.device) // g,
            advantages=advantages,
            sampling_logps=roll.logprobs,
        )

    def select(self, rows: torch.Tensor, keep_prompts: bool = False) -> PolicyBatch:
        """The completions ``rows`` (any subset, groups may be split) with only the prompts they use, or with all of
        them (``keep_prompts``: ``group_index`` still points into this batch's prompts, as a
        :class:`~minirl.grpo.SharedPrompts` of them needs)."""
        if keep_prompts:
            used = torch.arange(self.prompt_ids.shape[0], device=rows.device)  # [B]
            inverse = self.group_index[rows]  # [n]
        else:
            used, inverse = torch.unique(self.group_index[rows], return_inverse=True)  # [B'], [n]
        p_mask = self.prompt_mask[used]  # [B', P]
        keep_cols = p_mask.any(dim=0).nonzero(as_tuple=True)[0]  # drop all-padding columns
        start = 0 if keep_prompts else int(keep_cols[0]) if keep_cols.numel() else 0
        comp_mask = self.completion_mask[rows]  # [n, C]
        width = max(int(comp_mask.sum(dim=1).max()), 1) if rows.numel() else self.completion_ids.shape[1]
        return PolicyBatch(
            prompt_ids=self.prompt_ids[used, start:],
            prompt_mask=p_mask[:, start:],
            completion_ids=self.completion_ids[rows, :width],
            completion_mask=comp_mask[:, :width],
            group_index=inverse,
            advantages=self.advantages[rows],
            old_logps=None if self.old_logps is None else self.old_logps[rows, :width],
            ref_logps=None if self.ref_logps is None else self.ref_logps[rows, :width],
            sampling_logps=None if self.sampling_logps is None else self.sampling_logps[rows, :width],
        )
