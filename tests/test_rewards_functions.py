"""Each reward on right and wrong cases, the registry, combine, and picklability."""

from __future__ import annotations

import pickle

import pytest

import rewards
from rewards import (
    AccuracyReward,
    LanguageConsistencyReward,
    OverlongPenalty,
    RepetitionPenalty,
    accuracy_reward,
    combine,
    countdown_reward,
    format_reward,
    language_consistency_reward,
    language_mix,
    tag_count_reward,
    target_language_share,
)
from rewards import accuracy as accuracy_module

GOOD = "<think>\n6 * 3 = 18\n</think>\n<answer>18</answer>"


def conv(text):
    return [{"role": "assistant", "content": text}]


# ---------------------------------------------------------------------------------------------------------------------
# accuracy


@pytest.fixture(params=[True, False], ids=["symbolic", "rules-only"])
def accuracy(request, monkeypatch):
    """The default reward, and the same with math-verify hidden (behaviour without the optional extra)."""
    if not request.param:
        monkeypatch.setattr(accuracy_module, "_math_verify", lambda: None)
    return accuracy_reward


def test_accuracy_right_and_wrong(accuracy):
    completions = [
        GOOD,
        "<think>...</think><answer>$18.00</answer>",
        "<think>...</think><answer>The total is \\boxed{18}.</answer>",
        "<think>...</think><answer>17</answer>",
        "<think>...</think><answer>-18</answer>",
        "18",  # no answer block
        "<answer>18</answer><answer>19</answer>",  # the last block counts
        "",
    ]
    assert accuracy(completions, answer=["#### 18"] * len(completions)) == [1, 1, 1, 0, 0, 0, 0, 0]


def test_accuracy_number_forms(accuracy):
    pairs = [("1,000", "1000"), ("1/2", "0.5"), ("\\frac{1}{2}", "0.5"), ("0.5", "\\frac{1}{2}"), ("-3", "3")]
    completions = [f"<answer>{pred}</answer>" for pred, _ in pairs]
    assert accuracy(completions, answer=[gold for _, gold in pairs]) == [1.0, 1.0, 1.0, 1.0, 0.0]


def test_accuracy_conversations_and_gold_columns(accuracy):
    assert accuracy([conv(GOOD)], answer=["18"]) == [1.0]
    assert accuracy([GOOD, GOOD], answer=18) == [1.0, 1.0]  # one value for every completion
    assert accuracy([GOOD, GOOD, GOOD], answer=[None, "", "#### "]) == [None, None, None]
    assert accuracy([GOOD], answer=["18"], prompts=["q"], completion_ids=[[1]], trainer_state=None) == [1.0]


def test_gold_columns_from_numpy():
    np = pytest.importorskip("numpy")
    assert accuracy_reward([GOOD, GOOD], answer=np.array([18, 17])) == [1.0, 0.0]
    assert accuracy_reward([GOOD], answer=[np.int64(18)]) == [1.0]
    assert accuracy_reward([GOOD], answer=[True]) == [None]  # a bool is not a gold answer
    text = ["<answer>1 + 2</answer>"]
    assert countdown_reward(text, nums=[np.array([1, 2])], target=np.array([3])) == [1.0]
    assert countdown_reward(text, nums=[[True, 2]], target=[3]) == [None]


def test_accuracy_errors_name_the_column():
    with pytest.raises(ValueError, match="needs the gold column `answer`"):
        accuracy_reward([GOOD])
    with pytest.raises(ValueError, match="`answer` has 2 entries but there are 1"):
        accuracy_reward([GOOD], answer=["1", "2"])


def test_accuracy_symbolic_via_math_verify():
    pytest.importorskip("math_verify")
    completions = [
        "<answer>\\frac{\\sqrt{2}}{2}</answer>",
        "<answer>(x+1)^2</answer>",
        "<answer>2\\pi</answer>",
    ]
    golds = ["\\frac{1}{\\sqrt{2}}", "x^2+2x+1", "\\pi"]
    assert accuracy_reward(completions, answer=golds) == [1.0, 1.0, 0.0]
    assert AccuracyReward(symbolic=False)(completions, answer=golds) == [0.0, 0.0, 0.0]


def test_accuracy_symbolic_guard_refuses_explosive_answers():
    from rewards.accuracy import _symbolic_ok

    assert _symbolic_ok("\\frac{\\sqrt{2}}{2}") and _symbolic_ok("x^2+2x+1") and _symbolic_ok("2^{10}")
    for bad in ("9^{9^{9^{9}}}", "100000!", "\\Gamma(100000)", "(x+1)^{99}", "2^{999}", "1" * 7, "x" * 101):
        assert not _symbolic_ok(bad), bad


# ---------------------------------------------------------------------------------------------------------------------
# format and tag count


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, 1.0),
        ("<think>a</think><answer>1</answer>", 1.0),
        ("  <think></think>  <answer></answer>\n", 1.0),
        ("a</think><answer>1</answer>", 1.0),  # prompt ended with <think>
        ("<answer>1</answer>", 0.0),
        ("<think>a</think>", 0.0),
        ("<think>a</think> b <answer>1</answer>", 0.0),  # text between the blocks
        ("<think>a</think><answer>1</answer> b", 0.0),  # text after the answer
        ("x <think>a</think><answer>1</answer>", 0.0),  # text before the think block
        ("<think>a</think><think>b</think><answer>1</answer>", 0.0),
        ("<think>a</think><answer>1</answer><answer>2</answer>", 0.0),
        ("<answer>1</answer><think>a</think>", 0.0),
        ("<think>a<answer>1</answer></think>", 0.0),
        ("</think><think><answer>1</answer>", 0.0),
        ("", 0.0),
    ],
)
def test_format_reward(text, expected):
    assert format_reward([text]) == [expected]
    assert format_reward([conv(text)]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, 1.0),
        ("a</think><answer>1</answer>", 1.0),  # prefilled <think> counts
        ("<think>a</think><answer>1", 0.75),
        ("<think>a</think>", 0.5),
        ("<answer>1</answer>", 0.5),
        ("<think>a", 0.25),
        ("no tags", 0.0),
        ("</answer><answer></think><think>", 0.0),  # all present once, all out of order
        ("<think>a</think><answer>1</answer><answer>2</answer>", 0.5),
        ("<think><think></think></think>", 0.0),
        ("<answer>1</answer><think>a</think>", 0.0),
    ],
)
def test_tag_count_reward(text, expected):
    assert tag_count_reward([text]) == [expected]


# ---------------------------------------------------------------------------------------------------------------------
# countdown


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("(6 - 2) * 5", 1.0),
        ("5 * (6 - 2)", 1.0),
        ("((6-2))*5", 1.0),
        ("\\boxed{(6 - 2) * 5}", 1.0),
        ("6 * 5 - 2", 0.0),  # wrong value
        ("(6 - 2) * 5 * 1", 0.0),  # 1 is not given
        ("(6 - 2) * 5 + 2 - 2", 0.0),  # 2 used three times
        ("6 * 5", 0.0),  # 2 unused
        ("20", 0.0),
        ("-(2 - 6) * 5", 0.0),  # unary minus refused
        ("(6 - 2) ** 1 * 5", 0.0),
        ("(6 // 2) * 5", 0.0),
        ("(6.0 - 2) * 5", 0.0),
        ("(6 - 2) * 5 = 20", 0.0),
        ("x", 0.0),
        ("__import__('os')", 0.0),
        ("", 0.0),
    ],
)
def test_countdown_reward(answer, expected):
    assert countdown_reward([f"<answer>{answer}</answer>"], nums=[[2, 5, 6]], target=[20]) == [expected]


def test_countdown_exact_division_and_zero():
    assert countdown_reward(["<answer>(6 / 4) * 4</answer>"], nums=[[6, 4, 4]], target=[6]) == [1.0]
    assert countdown_reward(["<answer>7 / 3 * 3</answer>"], nums=[[7, 3, 3]], target=[7]) == [1.0]
    assert countdown_reward(["<answer>5 / (3 - 3)</answer>"], nums=[[5, 3, 3]], target=[0]) == [0.0]


def test_countdown_gold_forms():
    text = ["<answer>1 + 2</answer>"]
    assert countdown_reward(text, nums=[["1", "2"]], target=["3"]) == [1.0]
    assert countdown_reward(text, nums=[(1, 2)], target=[3.0]) == [1.0]
    for nums, target in [
        ([[1, 2]], [None]),
        ([None], [3]),
        ([[]], [3]),
        ([[1, "x"]], [3]),
        ([[1, 2]], [2.5]),
    ]:
        assert countdown_reward(text, nums=nums, target=target) == [None]
    with pytest.raises(ValueError, match="needs the gold column `nums`"):
        countdown_reward(text, target=[3])


# ---------------------------------------------------------------------------------------------------------------------
# language


def test_language_consistency_values():
    completions = [
        "<think>We add three and four.</think><answer>7</answer>",
        "<think>我们把三和四相加</think><answer>7</answer>",
        "<think>Add 3 and 4, 然后 print(x)</think><answer>7</answer>",
        "<answer>7</answer>",  # no words at all
        "The sum is seven",  # no think block: the whole text
    ]
    assert language_consistency_reward(completions) == [1.0, 0.0, 0.4, None, 1.0]
    assert language_consistency_reward(completions[:2], language="zh") == [0.0, 1.0]
    assert language_consistency_reward(completions[:2], language=["en", "zh"]) == [1.0, 1.0]


def test_language_english_chinese_python_is_mixed_for_every_target():
    text = (
        "<think>First compute the total. 然后我们用代码验证。\n"
        "```python\ndef total(xs):\n    return sum(xs)\n```\n"
        "So the answer is 10.</think><answer>10</answer>"
    )
    mix = language_mix(rewards.extract_think(text))
    assert set(mix) == {"latin", "han", "code"}
    assert abs(sum(mix.values()) - 1) < 1e-9
    for lang in ("en", "zh"):
        assert 0 < language_consistency_reward([text], language=lang)[0] < 1


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The quick brown fox", "en"),
        ("Le renard brun rapide", "fr"),
        ("敏捷的棕色狐狸", "zh"),
        ("すばやい茶色のキツネ", "ja"),
        ("빠른 갈색 여우", "ko"),
        ("Быстрая коричневая лиса", "ru"),
        ("الثعلب البني السريع", "ar"),
        ("तेज़ भूरी लोमड़ी", "hi"),
        ("Η γρήγορη καφέ αλεπού", "el"),
    ],
)
def test_scripts(text, language):
    assert target_language_share(text, language) == 1.0
    other = "en" if language not in ("en", "fr") else "ru"
    assert target_language_share(text, other) == 0.0


def test_word_counting_rules():
    assert language_mix("x + y = 3") == {}  # lone ASCII letters are variables, not words
    assert language_mix("\\frac{a}{b} \\sum_{i} 2") == {}  # LaTeX commands are not words
    assert language_mix("四个") == {"han": 1.0}
    assert target_language_share("四个 words", "en") == 1 / 3  # each Han character is a word
    assert target_language_share("naïve café", "en") == 1.0
    assert target_language_share("नमस्ते दुनिया", "hi") == 1.0  # vowel signs do not split words
    # code words: np, sum | my, func | np, mean; prose words: call, then, and
    assert language_mix("call `np.sum(a)` then my_func and np.mean(a)") == pytest.approx(
        {"latin": 1 / 3, "code": 2 / 3}
    )
    # code lines: for, in, range, total (i is a variable) vs the, end
    assert language_mix("for i in range(3):\n    total += i\nthe end") == pytest.approx(
        {"code": 2 / 3, "latin": 1 / 3}
    )
    # code lines: import, numpy, as, np, values vs ok, then
    assert language_mix("import numpy as np\nvalues = [1, 2]\nok then") == pytest.approx(
        {"code": 5 / 7, "latin": 2 / 7}
    )
    # English that merely looks like a keyword line stays English.
    assert language_mix("for example, consider this case:\nif we add them, we get four.") == {"latin": 1.0}
    assert language_mix("The answer = 5 apples") == {"latin": 1.0}


def test_language_errors():
    with pytest.raises(ValueError, match="not supported by the script backend"):
        LanguageConsistencyReward(language="tlh")
    with pytest.raises(ValueError, match="not supported"):
        language_consistency_reward(["hi"], language=["xx"])
    with pytest.raises(ValueError, match="backend"):
        LanguageConsistencyReward(backend="magic")


def test_langid_backend_tells_same_script_languages_apart():
    pytest.importorskip("py3langid")
    reward = LanguageConsistencyReward(language="fr", backend="langid", candidates=("en", "fr", "zh"))
    texts = [
        "<think>Nous additionnons trois et quatre, puis nous vérifions le résultat.</think>",
        "<think>We add three and four, then we check the result.</think>",
    ]
    assert reward(texts) == [1.0, 0.0]
    assert language_consistency_reward(texts) == [1.0, 1.0]  # the script backend cannot tell them apart
    mix = language_mix("We add three and four. 然后我们检查结果。", backend="langid", candidates=("en", "zh"))
    assert set(mix) == {"en", "zh"}


# ---------------------------------------------------------------------------------------------------------------------
# penalties


def test_overlong_penalty_dapo_eq13():
    penalty = OverlongPenalty(max_length=100, cache_length=20)
    ids = [[0] * n for n in (0, 80, 81, 90, 100, 101, 10_000)]
    assert penalty([""] * len(ids), completion_ids=ids) == [0.0, 0.0, -0.05, -0.5, -1.0, -1.0, -1.0]
    assert penalty(["x" * 320, "x" * 360, "x" * 1000]) == [0.0, -0.5, -1.0]  # 4 characters per token
    assert OverlongPenalty(100, 0)([""] * 2, completion_ids=[[0] * 100, [0] * 101]) == [0.0, -1.0]
    with pytest.raises(ValueError, match="cache_length"):
        OverlongPenalty(max_length=10, cache_length=20)
    with pytest.raises(ValueError, match="completion_ids"):
        penalty(["a"], completion_ids=[[1], [2]])


def test_repetition_penalty():
    assert rewards.repetition_penalty(["the cat sat on the mat", "", "go go go go go go"]) == [
        0.0,
        0.0,
        -0.75,
    ]
    half = RepetitionPenalty(n=2, max_penalty=0.5)
    assert half(["a a a a a"]) == [-0.375]  # 4 bigrams, 1 unique
    tokens = RepetitionPenalty(n=2, unit="tokens")
    assert tokens(["", ""], completion_ids=[[1, 2, 3], [7, 7, 7]]) == [0.0, -0.5]
    with pytest.raises(ValueError, match="needs completion_ids"):
        tokens(["a"])
    with pytest.raises(ValueError):
        RepetitionPenalty(n=0)


# ---------------------------------------------------------------------------------------------------------------------
# registry and combine


def test_registry_names_and_get():
    expected = {
        "accuracy",
        "format",
        "tag_count",
        "countdown",
        "language_consistency",
        "overlong",
        "repetition",
    }
    assert expected <= set(rewards.names())
    assert rewards.get("accuracy") is accuracy_reward
    with pytest.raises(KeyError, match="available: .*accuracy") as err:
        rewards.get("acuracy")
    assert "unknown reward 'acuracy'" in str(err.value)


def test_register_user_reward():
    def length_reward(completions, **kwargs):
        return [float(len(rewards.completion_text(c))) for c in completions]

    rewards.register("test_length", length_reward, overwrite=True)
    assert rewards.get("test_length")(["abc"]) == [3.0]
    with pytest.raises(ValueError, match="already registered"):
        rewards.register("test_length", length_reward)
    with pytest.raises(TypeError):
        rewards.register("not_callable", 3)


def test_combine_is_none_aware():
    def maybe(completions, **kwargs):
        return [None, 0.5, float("nan")]

    reward = combine([("format", 2.0), (accuracy_reward, 1.0)])
    out = reward([GOOD, "<answer>18</answer>", "junk"], answer=["18", "18", None])
    assert out == [3.0, 1.0, 0.0]
    assert combine({maybe: 1.0})(["a", "b", "c"]) == [None, 0.5, None]
    assert combine([(accuracy_reward, 1.0)])([GOOD], answer=[None]) == [None]
    with pytest.raises(KeyError):
        combine({"nope": 1.0})
    with pytest.raises(ValueError, match="finite number"):
        combine({"format": float("inf")})
    with pytest.raises(ValueError, match="returned 1 values for 2"):
        combine({lambda completions, **kw: [1.0]: 1.0})(["a", "b"])


def test_rewards_pickle_and_keep_their_names():
    for name in (
        "accuracy",
        "format",
        "tag_count",
        "countdown",
        "language_consistency",
        "overlong",
        "repetition",
    ):
        fn = rewards.get(name)
        clone = pickle.loads(pickle.dumps(fn))
        assert getattr(clone, "__name__", None) == getattr(fn, "__name__", None)
    combined = pickle.loads(pickle.dumps(combine({"accuracy": 1.0, "format": 0.5})))
    assert combined([GOOD], answer=["18"]) == [1.5]
