"""Arithmetic: seeded "What is 3 + 5?" problems, the smallest task on which GRPO visibly learns.

Single-digit addition (the default) is the reference task the docs compare against TRL: a 135M model
can solve it, so a run shows format and accuracy rising within minutes on a CPU. Difficulty grows with
``max_digits`` (operand size), ``num_terms`` and ``ops`` (any of ``+ - *``; ``*`` binds tighter, as usual).
Operands are uniform in ``[0, 10**max_digits - 1]``; results may be negative when ``-`` is allowed.
Splits are disjoint by construction (see :mod:`minirl.tasks.base`); a problem's identity is its exact
question, so ``3 + 5`` and ``5 + 3`` are distinct problems.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from minirl.tasks.base import Example, ProceduralTask

ARITHMETIC_OPS = "+-*"


@dataclass(frozen=True)
class Operation:
    """One step of a problem's evaluation, ``a op b = value``.

    ``a_step`` / ``b_step``: the 1-based number of the earlier operation whose result the operand is, ``None`` for
    a number of the question. So ``5 + 3 * 4`` is ``3 * 4 = 12`` then ``5 + 12 = 17`` with ``b_step=1``.
    """

    a: int
    op: str
    b: int
    value: int
    a_step: int | None = None
    b_step: int | None = None

    def sentence(self) -> str:
        """``"a op b = value."``"""
        return f"{self.a} {self.op} {self.b} = {self.value}."


def operations(terms: list[int], operators: list[str]) -> list[Operation]:
    """How ``terms[0] op terms[1] op ...`` is evaluated (``*`` binds tighter): one :class:`Operation` per operator,
    left to right, each product done when the sum needs it (the order of Python's own evaluation).

    >>> [op.sentence() for op in operations([2, 2, 6, 4], ["-", "-", "*"])]
    ['2 - 2 = 0.', '6 * 4 = 24.', '0 - 24 = -24.']
    >>> operations([2, 2, 6, 4], ["-", "-", "*"])[2]  # step 1 minus step 2
    Operation(a=0, op='-', b=24, value=-24, a_step=1, b_step=2)
    """
    if len(operators) != len(terms) - 1:
        raise ValueError(f"need {len(terms) - 1} operators for {len(terms)} terms, got {operators!r}")
    done: list[Operation] = []
    total: tuple[int, int | None] | None = None  # the running sum and the step it comes from
    sign = ""
    term, step = terms[0], None  # the current product chain and the step it comes from
    for op, nxt in [*zip(operators, terms[1:]), ("", 0)]:  # a final "" closes the last chain
        if op == "*":
            done.append(Operation(term, "*", nxt, term * nxt, step))
            term, step = term * nxt, len(done)
            continue
        if op not in ("+", "-", ""):
            raise ValueError(f"unknown operator {op!r}: use one of {list(ARITHMETIC_OPS)}")
        if total is not None:  # the chain is complete: add it to (or subtract it from) the sum
            value = total[0] + term if sign == "+" else total[0] - term
            done.append(Operation(total[0], sign, term, value, total[1], step))
            term, step = value, len(done)
        total, sign = (term, step), op
        term, step = nxt, None
    return done


def evaluate_terms(terms: list[int], operators: list[str]) -> tuple[int, list[str]]:
    """Exact value of ``terms[0] op terms[1] op ...`` and its :func:`operations` as sentences, products first.

    >>> evaluate_terms([5, 3, 4, 2], ["+", "*", "-"])
    (15, ['3 * 4 = 12.', '5 + 12 = 17.', '17 - 2 = 15.'])
    """
    return _value_and_sentences(terms[0], operations(terms, operators))


def _value_and_sentences(first: int, done: list[Operation]) -> tuple[int, list[str]]:
    ordered = sorted(done, key=lambda op: op.op != "*")  # stable: products, then sums, each left to right
    return (done[-1].value if done else first), [op.sentence() for op in ordered]


WORDING: dict[str, dict[str, str]] = {
    "fr": {
        "question": "Combien font {expr} ?",
        "+": "On additionne {a} et {b} : {a} + {b} = {v}.",
        "-": "On soustrait {b} de {a} : {a} - {b} = {v}.",
        "*": "On multiplie {a} par {b} : {a} * {b} = {v}.",
        "answer": "La réponse est donc {v}.",
    },
    "es": {
        "question": "¿Cuánto es {expr}?",
        "+": "Sumamos {a} y {b}: {a} + {b} = {v}.",
        "-": "Restamos {b} de {a}: {a} - {b} = {v}.",
        "*": "Multiplicamos {a} por {b}: {a} * {b} = {v}.",
        "answer": "Por lo tanto, la respuesta es {v}.",
    },
    "de": {
        "question": "Wie viel ist {expr}?",
        "+": "Wir addieren {a} und {b}: {a} + {b} = {v}.",
        "-": "Wir ziehen {b} von {a} ab: {a} - {b} = {v}.",
        "*": "Wir multiplizieren {a} mit {b}: {a} * {b} = {v}.",
        "answer": "Die Antwort ist also {v}.",
    },
    "zh": {
        "question": "{expr} 等于多少？",
        "+": "把 {a} 和 {b} 相加：{a} + {b} = {v}。",
        "-": "从 {a} 中减去 {b}：{a} - {b} = {v}。",
        "*": "把 {a} 乘以 {b}：{a} * {b} = {v}。",
        "answer": "所以答案是 {v}。",
    },
}
"""Our own wording of an arithmetic problem in each non-English prompt language: the question, one sentence per
operation (``{a} op {b} = {v}``) and the closing answer sentence (:meth:`ArithmeticTask.localize`)."""


class ArithmeticTask(ProceduralTask):
    """Seeded arithmetic problems such as ``"What is 3 + 5?"`` with gold ``answer`` ``"8"``.

    Args:
        num_terms: numbers per problem (2 to 10); with ``min_terms``, the most.
        min_terms: the fewest numbers per problem: each problem draws its count uniformly from ``min_terms`` to
            ``num_terms`` (None = always ``num_terms``), so one run can mix easier and harder problems.
        max_digits: digits per number at most (1 to 9).
        ops: the operators to draw from, a string of some of ``+-*``.
        seed: task seed, mixed with the ``seed`` of :meth:`examples`.

    >>> task = ArithmeticTask()
    >>> ex = task.examples("test", n=1)[0]
    >>> ex.question.startswith("What is ") and int(ex.answer) >= 0
    True
    """

    name = "arithmetic"

    def __init__(
        self,
        num_terms: int = 2,
        max_digits: int = 1,
        ops: str = "+",
        seed: int = 0,
        min_terms: int | None = None,
    ) -> None:
        if isinstance(num_terms, bool) or not isinstance(num_terms, int) or not 2 <= num_terms <= 10:
            raise ValueError(f"arithmetic: num_terms must be an integer in [2, 10], got {num_terms!r}")
        if min_terms is not None and (
            isinstance(min_terms, bool) or not isinstance(min_terms, int) or not 2 <= min_terms <= num_terms
        ):
            raise ValueError(
                f"arithmetic: min_terms must be an integer in [2, num_terms={num_terms}] or null, got {min_terms!r}"
            )
        if isinstance(max_digits, bool) or not isinstance(max_digits, int) or not 1 <= max_digits <= 9:
            raise ValueError(f"arithmetic: max_digits must be an integer in [1, 9], got {max_digits!r}")
        if not isinstance(ops, str) or not ops or not set(ops) <= set(ARITHMETIC_OPS):
            raise ValueError(f"arithmetic: ops must be a non-empty string of {ARITHMETIC_OPS!r}, got {ops!r}")
        self.num_terms, self.max_digits, self.seed = num_terms, max_digits, seed
        self.min_terms = num_terms if min_terms is None else min_terms
        self.ops = "".join(sorted(set(ops), key=ARITHMETIC_OPS.index))  # canonical, so "+-" == "-+"
        self.default_rewards = {"accuracy": 1.0, "format": 1.0, "tag_count": 0.5}
        self.few_shot = self._pick_few_shot()

    def sample(self, rng: random.Random) -> Example:
        """One random problem, with its :func:`operations` as ``worked_steps`` and as ``worked_reasoning`` text."""
        top = 10**self.max_digits - 1
        count = (
            self.num_terms
            if self.min_terms == self.num_terms
            else rng.randint(self.min_terms, self.num_terms)
        )
        terms = [rng.randint(0, top) for _ in range(count)]
        operators = [rng.choice(self.ops) for _ in range(count - 1)]
        return self.example(terms, operators)

    def example(self, terms: list[int], operators: list[str]) -> Example:
        """The problem ``terms[0] op terms[1] ...`` with its gold answer and worked solution.

        >>> ex = ArithmeticTask().example([5, 3, 4, 2], ["+", "*", "-"])
        >>> ex.question, ex.answer, ex.worked_reasoning
        ('What is 5 + 3 * 4 - 2?', '15', '3 * 4 = 12. 5 + 12 = 17. 17 - 2 = 15.')
        """
        done = operations(terms, operators)
        value, steps = _value_and_sentences(terms[0], done)
        expr = " ".join([str(terms[0])] + [f"{op} {t}" for op, t in zip(operators, terms[1:])])
        return Example(
            f"What is {expr}?",
            str(value),
            worked_reasoning=" ".join(steps),
            worked_steps=tuple(done),
        )

    def key(self, example: Example) -> str:
        """The question itself."""
        return example.question

    def localize(self, example: Example, language: str) -> Example:
        """``example`` worded in ``language`` (see :data:`WORDING`): the question, and a worked reasoning in words.

        English returns the example as it is (the R1-Zero main job's prompts: the reasoning is equations only).
        Every other language words each :class:`Operation` as a sentence and ends with the answer, so the reasoning
        has words whose language can be measured. The answer and the operations are unchanged.

        >>> ex = ArithmeticTask(max_digits=2).example([23, 45], ["+"])
        >>> fr = ArithmeticTask().localize(ex, "fr")
        >>> fr.question, fr.worked_reasoning
        ('Combien font 23 + 45 ?', 'On additionne 23 et 45 : 23 + 45 = 68. La réponse est donc 68.')
        """
        if language == "en":
            return example
        if language not in WORDING:
            raise ValueError(
                f"arithmetic: no wording for language {language!r}; use one of {['en', *WORDING]}"
            )
        words = WORDING[language]
        expr = example.question.removeprefix("What is ").removesuffix("?")
        steps = [words[op.op].format(a=op.a, b=op.b, v=op.value) for op in example.worked_steps or ()]
        reasoning = " ".join([*steps, words["answer"].format(v=example.answer)])
        return Example(
            words["question"].format(expr=expr),
            example.answer,
            dict(example.extra),
            worked_reasoning=reasoning,
            worked_steps=example.worked_steps,
        )

    def __repr__(self) -> str:
        fewest = f", min_terms={self.min_terms}" if self.min_terms != self.num_terms else ""
        return (
            f"ArithmeticTask(num_terms={self.num_terms}, max_digits={self.max_digits}, "
            f"ops={self.ops!r}, seed={self.seed}{fewest})"
        )
