"""Rule-based rewards for reasoning RL (DeepSeek-R1 style), with TRL's reward-function signature.

Every reward is ``fn(completions, **kwargs) -> list[float | None]``: ``completions`` is a list of strings or of
conversations (``[{"role": "assistant", "content": ...}]``), gold data arrives as keyword lists named after
dataset columns, unknown keywords are ignored and ``None`` means "not applicable to this sample". So a reward
plugs into TRL's ``GRPOTrainer(reward_funcs=[...])``, minirl's trainer, or a plain loop unchanged.

Pure Python (standard library only); ``math-verify`` and ``py3langid`` are optional extras, imported on use.

>>> import rewards
>>> rewards.accuracy_reward(["<think>3*6</think><answer>18</answer>"], answer=["#### 18"])
[1.0]
>>> rewards.get("format")(["<think>3*6</think><answer>18</answer>"])
[1.0]
"""

from rewards._numbers import format_number, parse_number
from rewards._text import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    TAGS,
    THINK_CLOSE,
    THINK_OPEN,
    after_reasoning,
    completion_text,
    extract_answer,
    extract_think,
    last_boxed,
    prompt_opens_reasoning,
)
from rewards.accuracy import AccuracyReward, accuracy_reward, answers_equal, normalize_answer, parse_gold
from rewards.countdown import countdown_reward
from rewards.formatting import format_reward, tag_count_reward
from rewards.language import (
    LANGUAGE_SCRIPTS,
    MIXED_BELOW,
    LanguageConsistencyReward,
    english_share,
    language_consistency_reward,
    language_mix,
    resolve_backend,
    target_language_share,
)
from rewards.penalties import OverlongPenalty, RepetitionPenalty, overlong_penalty, repetition_penalty
from rewards.registry import CombinedReward, UnknownRewardError, combine, get, names, register

__all__ = [
    "ANSWER_CLOSE",
    "ANSWER_OPEN",
    "TAGS",
    "THINK_CLOSE",
    "THINK_OPEN",
    "LANGUAGE_SCRIPTS",
    "MIXED_BELOW",
    "AccuracyReward",
    "CombinedReward",
    "LanguageConsistencyReward",
    "OverlongPenalty",
    "RepetitionPenalty",
    "UnknownRewardError",
    "accuracy_reward",
    "after_reasoning",
    "answers_equal",
    "combine",
    "completion_text",
    "countdown_reward",
    "extract_answer",
    "extract_think",
    "format_number",
    "format_reward",
    "get",
    "english_share",
    "language_consistency_reward",
    "language_mix",
    "last_boxed",
    "names",
    "normalize_answer",
    "overlong_penalty",
    "parse_gold",
    "parse_number",
    "prompt_opens_reasoning",
    "register",
    "repetition_penalty",
    "tag_count_reward",
    "resolve_backend",
    "target_language_share",
]
