"""Prompts fully in the target language, and the language share on hand-made traces in each supported language."""

from __future__ import annotations

import re

import pytest

import rewards
from minirl.tasks import ArithmeticTask, PromptStyle, build_prompt
from minirl.tasks.arithmetic import WORDING

LANGS = ("zh", "fr", "es", "de")

# Common English words, and every English word of the English template, example labels and arithmetic wording.
# Words spelled the same in the target language are allowed there (COGNATES).
ENGLISH = set(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "is",
        "are",
        "be",
        "it",
        "this",
        "that",
        "what",
        "which",
        "user",
        "users",
        "asks",
        "question",
        "questions",
        "example",
        "here",
        "answer",
        "answers",
        "think",
        "thinks",
        "reasoning",
        "process",
        "mind",
        "first",
        "then",
        "provides",
        "enclosed",
        "within",
        "tags",
        "respectively",
        "i",
        "e",
        "conversation",
        "assistant",
        "solves",
        "so",
        "we",
        "add",
        "subtract",
        "multiply",
        "from",
        "by",
        "please",
        "language",
        "english",
        "compute",
        "sum",
        "result",
    ]
)
COGNATES = {"fr": {"conversation", "question", "assistant"}}
_TAGS = re.compile(r"</?(think|answer)>|<\|im_(start|end)\|>(system|user|assistant)?")


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]+", _TAGS.sub(" ", text))}


@pytest.mark.parametrize("language", LANGS)
@pytest.mark.parametrize("chat", [True, False])
def test_the_prompt_in_a_language_has_no_english_word_but_the_tags(language, chat, tiny_tokenizer):
    task = ArithmeticTask(max_digits=2)
    ex = task.examples("test", n=1)[0]
    prompt = build_prompt(ex, tiny_tokenizer, PromptStyle(language=language, chat=chat), task=task)
    english_words = _words(prompt) & ENGLISH - COGNATES.get(language, set())
    assert not english_words, sorted(english_words)
    assert "<think>" in prompt and "</answer>" in prompt  # the tags stay
    assert task.localize(ex, language).question in prompt
    # The check itself can fail: the English prompt is full of such words.
    english = build_prompt(ex, tiny_tokenizer, PromptStyle(chat=chat), task=task)
    assert len(_words(english) & ENGLISH) > 10


@pytest.mark.parametrize("language", LANGS)
def test_the_worded_example_keeps_the_answer_and_the_steps(language):
    task = ArithmeticTask(num_terms=3, max_digits=2, ops="+-*")
    for ex in task.examples("train", n=20, seed=1):
        worded = task.localize(ex, language)
        assert worded.answer == ex.answer and worded.worked_steps == ex.worked_steps
        assert worded.worked_reasoning.count("=") == len(ex.worked_steps)
        assert worded.worked_reasoning.strip().endswith(
            WORDING[language]["answer"].format(v=ex.answer).strip()
        )
    assert task.localize(ex, "en") is ex
    with pytest.raises(ValueError, match="no wording for language 'it'"):
        task.localize(ex, "it")


# Hand-made reasoning per language: the target-language version, the same in English, and a half-and-half mix.
TRACES = {
    "zh": ("把 23 和 45 相加：23 + 45 = 68。所以答案是 68。", "把 23 和 45 相加, then the answer is 68"),
    "fr": (
        "On additionne 23 et 45 : 23 + 45 = 68. La réponse est donc 68.",
        "On additionne les deux nombres ensemble. Then we add the two numbers and the answer is 68.",
    ),
    "es": (
        "Sumamos 23 y 45: 23 + 45 = 68. Por lo tanto, la respuesta es 68.",
        "Sumamos los dos números juntos. Then we add the two numbers and the answer is 68.",
    ),
    "de": (
        "Wir addieren 23 und 45: 23 + 45 = 68. Die Antwort ist also 68.",
        "Wir addieren die beiden Zahlen zusammen. Then we add the two numbers and the answer is 68.",
    ),
}
ENGLISH_TRACE = "We add 23 and 45: 23 + 45 = 68. So the answer is 68, which is the sum of the two numbers."


@pytest.mark.parametrize("language", LANGS)
def test_the_target_share_tells_the_language_from_english(language):
    own, mixed = TRACES[language]
    share = rewards.target_language_share
    assert share(own, language) == 1.0
    assert share(ENGLISH_TRACE, language) == 0.0
    assert 0.2 < share(mixed, language) < 0.8
    assert share(f"<think>{own}</think><answer>68</answer>", language) == 1.0
    # R1's reward on completions, and English measured as a target of its own against the same text.
    reward = rewards.LanguageConsistencyReward(language)
    assert reward(
        [f"<think>{own}</think>", f"<think>{ENGLISH_TRACE}</think>", "<think>23 + 45 = 68</think>"]
    ) == [
        1.0,
        0.0,
        None,
    ]


def test_auto_never_gives_the_latin_share_for_a_latin_target():
    # The script backend counts French English words as French; auto does not.
    assert rewards.target_language_share(ENGLISH_TRACE, "fr", backend="script") == 1.0
    assert rewards.target_language_share(ENGLISH_TRACE, "fr") == 0.0
    assert rewards.target_language_share(ENGLISH_TRACE, "en") == 1.0
