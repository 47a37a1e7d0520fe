"""GRPO math: group-relative advantages, completion log-probs and the clipped GRPO/DAPO/Dr. GRPO loss.

Only torch is needed here. Each module's docstring gives the paper equation it implements and where we depart from
it (or from TRL's ``GRPOTrainer``, which ``tests/test_grpo_trl_parity.py`` checks us against).
"""

from minirl.grpo.advantages import (
    SCALE_REWARDS,
    compute_advantages,
    group_stats,
    rewards_to_tensor,
    zero_variance_groups,
)
from minirl.grpo.logprobs import completion_logprobs, grouped_completion_logprobs, selective_log_softmax
from minirl.grpo.loss import (
    LossOutput,
    LossParams,
    clip_metrics,
    clipped_surrogate,
    grpo_loss,
    importance_ratio,
    k3_kl,
    tis_weights,
)
from minirl.grpo.normalize import LOSS_TYPES, aggregate, loss_denominator, minibatch_normalizer
from minirl.grpo.shared_prompts import SharedPrompts

__all__ = [
    "LOSS_TYPES",
    "SCALE_REWARDS",
    "SharedPrompts",
    "LossOutput",
    "LossParams",
    "aggregate",
    "clip_metrics",
    "clipped_surrogate",
    "completion_logprobs",
    "compute_advantages",
    "group_stats",
    "grouped_completion_logprobs",
    "grpo_loss",
    "importance_ratio",
    "k3_kl",
    "loss_denominator",
    "minibatch_normalizer",
    "rewards_to_tensor",
    "selective_log_softmax",
    "tis_weights",
    "zero_variance_groups",
]
