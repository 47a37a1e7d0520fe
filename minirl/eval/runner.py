"""Evaluate a model on a task's held-out problems: pass@1, pass@k, maj@k, format, length and language metrics.

Generation goes through :func:`minirl.rollout.generate` (the trainer's own sampling code, so evaluation sees exactly
what training sees). pass@1 (greedy) uses one greedy completion per problem; with ``k > 1`` we also sample k
completions at ``temperature`` (decoded in the same batch as the greedy one, which shares their prompt's cache) and report mean pass@1 over samples, pass@k (Chen et al. 2021 unbiased estimator) and
maj@k. Each rate comes with a 95% Wilson interval over problems (or over completions for per-completion rates), and
length/share means with a bootstrap interval.

maj@k votes on a key per sample (:func:`vote_key`, stored as ``votes`` in each record): the normalized answer, so
``"1,000"`` and ``"1000.0"`` vote together; for countdown, where many expressions are right, every valid solution
votes for one shared class ``VALID_SOLUTION`` and any other answer for its expression without whitespace. A tie
goes to the key seen first in sample order; the winner's correctness is the task reward of the first sample that
voted for it. A metric with nothing to measure (the mixed-language rate when no completion has words to classify)
has ``n == 0``: it prints as ``-``, saves as ``null`` in ``summary.json`` and is left out of :meth:`EvalResult.flat`.

Two greedy metrics describe the reasoning itself: ``reasoning_words`` (words between the prompt's ``<think>`` and
``</think>``) and ``answer_in_reasoning`` (of the completions with a numeric answer and a number in their reasoning,
the share whose answer is the last number the reasoning wrote, :func:`answer_in_reasoning`): whether the answer was
worked out in the reasoning before it was given, or stated apart from it.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

import rewards
from minirl.eval.metrics import Estimate, majority_is_correct, mean_estimate, mean_pass_at_k, proportion
from minirl.eval.ways import WAYS, ways_of_reasoning
from minirl.memory import GIB, ModelShape, free_bytes, rows_that_fit
from minirl.rollout.generate import generate
from minirl.tasks import Example, PromptStyle, Task, build_prompt, no_reasoning_suffix

VALID_SOLUTION = "<valid solution>"
"""The maj@k vote of every correct countdown answer: different expressions reaching the target agree."""
_NOTHING = Estimate(float("nan"), float("nan"), float("nan"), 0)  # n == 0: prints "-", saves null


@dataclass
class EvalResult:
    """Summary metrics (each an :class:`Estimate`) and the per-problem records."""

    metrics: dict[str, Estimate]
    records: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def flat(self) -> dict[str, float]:
        """``{name: value, name_low: ..., name_high: ...}`` for metrics.jsonl.

        Metrics with ``n == 0`` and non-finite numbers (the median has no interval) are left out, so readers
        see a missing key rather than a NaN or a fake 0.
        """
        out: dict[str, float] = {}
        for name, est in self.metrics.items():
            if est.n == 0:
                continue
            for key, value in ((name, est.value), (f"{name}_low", est.low), (f"{name}_high", est.high)):
                if math.isfinite(value):
                    out[key] = value
        out["n_problems"] = float(len(self.records))
        return out

    def summary_line(self) -> str:
        """One line with the headline metrics, e.g. ``pass@1 0.040 [0.025, 0.062] (n=500) | ...``."""
        keys = ["pass@1", "pass@1_sampled", "format_rate", "completion_length", "mixed_rate", "target_share"]
        keys += ["english_share"] if self.settings.get("language", "en") != "en" else []
        return " | ".join(f"{k} {self.metrics[k]}" for k in keys if k in self.metrics)

    def save(self, out_dir: str | Path) -> Path:
        """Write ``summary.json`` and ``problems.jsonl`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        summary = {"settings": self.settings, "metrics": {k: v.to_dict() for k, v in self.metrics.items()}}
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        with open(out / "problems.jsonl", "w") as f:
            for rec in self.records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        return out


def _correct(task: Task, texts: list[str], example: Example, prompt: str) -> list[float]:
    """:meth:`Task.correct` of each text against ``example``; an unjudgeable gold counts as wrong (0.0). The prompt
    tells the reward whether a completion starts inside a prefilled ``<think>``."""
    kwargs = {k: [v] * len(texts) for k, v in example.reward_kwargs().items()}
    return [c or 0.0 for c in task.correct(texts, prompts=[prompt] * len(texts), **kwargs)]


def vote_key(task: Task, extracted: str | None, correct: float) -> str | None:
    """What one sample votes for in maj@k: its normalized answer, or for countdown its correctness class.

    Countdown (any task whose accuracy reward checks the answer instead of matching one gold string) has many
    right answers: ``(6 - 2) * 5`` and ``5 * (6 - 2)`` both reach 20, so every correct sample votes
    :data:`VALID_SOLUTION` and a wrong one votes for its expression with whitespace removed. Other tasks vote on
    ``rewards.normalize_answer``. ``None`` (no answer extracted) casts no vote.

    >>> from minirl.tasks import get_task
    >>> vote_key(get_task("countdown"), "(6 - 2) * 5", 1.0), vote_key(get_task("countdown"), "6 * 5 - 2", 0.0)
    ('<valid solution>', '6*5-2')
    >>> vote_key(get_task("arithmetic"), "1,000.0", 0.0)
    '1000'
    """
    if extracted is None:
        return None
    if task.accuracy_reward != "accuracy":
        return VALID_SOLUTION if correct == 1.0 else "".join(extracted.split()) or None
    return rewards.normalize_answer(extracted)


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def answer_in_reasoning(reasoning: str | None, answer: str | None) -> bool | None:
    """Whether ``answer`` is the last number the reasoning wrote: the answer was worked out before it was given.

    ``None`` when there is nothing to compare: no closed reasoning, no answer, an answer that is not a number, or
    a reasoning without numbers.

    >>> answer_in_reasoning("12 + 43 = 55.", "55"), answer_in_reasoning("12 + 43 = 55.", "56")
    (True, False)
    >>> answer_in_reasoning("I add them.", "55") is None, answer_in_reasoning("1 + 1 = 2", "(1 + 1)") is None
    (True, True)
    """
    if reasoning is None or answer is None:
        return None
    numbers = _NUMBER.findall(reasoning)
    gold = rewards.normalize_answer(answer)
    if not numbers or gold is None or _NUMBER.fullmatch(answer.strip()) is None:
        return None
    return rewards.normalize_answer(numbers[-1]) == gold


def _batched(seq: list, size: int):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _rows_in_memory(model, tokenizer, inputs: list[str], max_new_tokens: int, batch_size: int) -> int:
    """``batch_size``, or fewer rows when their KV cache and logits would take more than half the free memory
    (:func:`minirl.memory.rows_that_fit`), for the longest of the texts ``inputs`` followed by ``max_new_tokens``;
    says so when it cuts."""
    longest = max(len(tokenizer(text)["input_ids"]) for text in inputs)
    shape = ModelShape.of(model)
    per_row = shape.generation_bytes(1, longest + max_new_tokens)
    free = free_bytes(next(model.parameters()).device)
    fit = rows_that_fit(per_row, batch_size, free)
    if fit < batch_size:
        print(
            f"[minirl] evaluation batch {batch_size} -> {fit} sequences: {batch_size} would need "
            f"{batch_size * per_row / GIB:.2f} GiB of KV cache and logits, {free / GIB:.2f} GiB is free"
        )
    return fit


def evaluate_examples(
    model,
    tokenizer,
    task: Task,
    examples: list[Example],
    style: PromptStyle,
    k: int = 1,
    temperature: float = 0.7,
    max_new_tokens: int = 256,
    batch_size: int = 32,
    language: str = "en",
    seed: int = 0,
    progress: bool = True,
    desc: str = "eval",
    reasoning: bool = True,
) -> EvalResult:
    """Greedy pass@1 on every problem, plus k sampled completions per problem when ``k > 1``.

    ``progress`` shows a bar on stderr with the problems done and the time left, labelled ``desc``. At most
    ``batch_size`` sequences are decoded at once, fewer when that many would not fit in half the free memory.
    ``reasoning=False`` is the reasoning ablation: each prompt is followed by
    :func:`~minirl.tasks.no_reasoning_suffix` (``</think>\\n<answer>``), so the model must answer with no reasoning;
    the completions are scored (and saved) with that text in front of them. How much accuracy falls says how much
    the answers rest on the reasoning.

    Returns:
        An :class:`EvalResult`; ``pass@1`` is the greedy accuracy, ``pass@1_sampled``/``pass@k``/``maj@k`` appear when
        ``k > 1``.
    """
    if not examples:
        raise ValueError("evaluate_examples() needs at least one problem")
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    records: list[dict] = []
    bar = tqdm(total=len(examples), desc=desc, unit="problem", disable=not progress, dynamic_ncols=True)
    rows = k + 1 if k > 1 else 1  # the greedy completion first, then k samples, decoded in one batch
    prompts = [build_prompt(ex, tokenizer, style, task=task) for ex in examples]
    forced = ["" if reasoning else no_reasoning_suffix(p) for p in prompts]
    inputs = [p + f for p, f in zip(prompts, forced)]  # what the model is given
    per_batch = max(1, _rows_in_memory(model, tokenizer, inputs, max_new_tokens, batch_size) // rows)
    temps = [0.0] + [temperature] * k if k > 1 else 0.0
    for chunk in _batched(list(zip(examples, prompts, forced, inputs)), per_batch):
        roll = generate(
            model,
            tokenizer,
            [text for *_, text in chunk],
            rows,
            max_new_tokens,
            temperature=temps,
            generator=gen,
        )
        for i, (ex, prompt, pre, _) in enumerate(chunk):
            group = slice(i * rows, (i + 1) * rows)
            texts = [pre + t for t in roll.texts[group]]
            lengths = [int(x) for x in roll.lengths[group]]
            truncated = [bool(x) for x in roll.truncated[group]]
            correct = _correct(task, texts, ex, prompt)
            opened = rewards.prompt_opens_reasoning(
                prompt
            )  # a prefilled <think>: the answer must follow </think>
            extracted = [rewards.extract_answer(t, opened) for t in texts]
            thoughts = [rewards.extract_think(t) for t in texts]
            records.append(
                {
                    "question": ex.question,
                    "gold": ex.answer,
                    "prompt": prompt,
                    "completions": texts,
                    "extracted": extracted,
                    "votes": [vote_key(task, a, c) for a, c in zip(extracted, correct)],
                    "correct": correct,
                    "format": rewards.format_reward(texts),
                    "target_share": rewards.language_consistency_reward(texts, language=language),
                    "english_share": [rewards.english_share(t, language) for t in texts],
                    "lengths": lengths,
                    "reasoning_words": [0 if r is None else len(r.split()) for r in thoughts],
                    "answer_in_reasoning": [answer_in_reasoning(r, a) for r, a in zip(thoughts, extracted)],
                    "ways": ways_of_reasoning(texts),
                    "truncated": truncated,
                }
            )
        bar.update(len(chunk))
    bar.close()
    return summarize(
        records,
        k=k,
        settings={
            "task": task.name,
            "n_problems": len(examples),
            "k": k,
            "temperature": temperature,
            "max_new_tokens": max_new_tokens,
            "language": language,
            "seed": seed,
            "reasoning": reasoning,
        },
    )


def _way_metrics(records: list[dict], k: int) -> dict[str, Estimate]:
    """Share of each way of reasoning (:mod:`minirl.eval.ways`) and the accuracy of the completions that took it:
    ``ways/<way>`` and ``ways/<way>/pass@1`` for the greedy completions, ``ways_sampled/...`` for the samples."""
    out: dict[str, Estimate] = {}
    for prefix, pick in (("ways", slice(0, 1)), ("ways_sampled", slice(1, None))):
        if prefix == "ways_sampled" and k <= 1:
            continue
        pairs = [(w, c) for r in records for w, c in zip(r["ways"][pick], r["correct"][pick])]
        for way in WAYS:
            took = [c for w, c in pairs if w == way]
            out[f"{prefix}/{way}"] = proportion(len(took), len(pairs))
            out[f"{prefix}/{way}/pass@1"] = proportion(int(sum(took)), len(took))  # n == 0: not measured
    return out


def summarize(records: list[dict], k: int = 1, settings: dict | None = None) -> EvalResult:
    """Turn per-problem records (as written by :func:`evaluate_examples`) into estimates with 95% intervals.

    Greedy metrics use the first completion of each record; sampled ones the others. maj@k votes on each
    record's ``votes`` (see :func:`vote_key`); records without them vote on their normalized ``extracted``.

    ``mixed_rate`` is the *greedy* mixed rate: of the greedy completions that have words, the share whose
    target-language share is below ``rewards.MIXED_BELOW``, with a Wilson interval. Same rule, other number than
    the training log's ``language/mixed_rate`` (a step's samples, :func:`minirl.trainer.rewards.score_rollout`) and
    the language-mixing report's ``mixed_rate`` (samples, per problem: :func:`minirl.r1.mixing.mixing_metrics`).
    """
    n = len(records)
    greedy_ok = sum(int(r["correct"][0]) for r in records)
    greedy_fmt = sum(int(r["format"][0] == 1.0) for r in records)
    shares = [r["target_share"][0] for r in records if r["target_share"][0] is not None]
    metrics: dict[str, Estimate] = {
        "pass@1": proportion(greedy_ok, n),
        "format_rate": proportion(greedy_fmt, n),
        "truncated_rate": proportion(sum(int(r["truncated"][0]) for r in records), n),
        "completion_length": mean_estimate([float(r["lengths"][0]) for r in records]),
        "mixed_rate": proportion(sum(int(s < rewards.MIXED_BELOW) for s in shares), len(shares))
        if shares
        else _NOTHING,
        "target_share": mean_estimate(shares) if shares else _NOTHING,
    }
    english = [r["english_share"][0] for r in records if r.get("english_share", [None])[0] is not None]
    metrics["english_share"] = mean_estimate(english) if english else _NOTHING
    judged = [
        r["answer_in_reasoning"][0] for r in records if r.get("answer_in_reasoning", [None])[0] is not None
    ]
    metrics["answer_in_reasoning"] = (
        proportion(sum(int(j) for j in judged), len(judged)) if judged else _NOTHING
    )
    if all("reasoning_words" in r for r in records):
        metrics["reasoning_words"] = mean_estimate([float(r["reasoning_words"][0]) for r in records])
    if all("ways" in r for r in records):
        metrics.update(_way_metrics(records, k))
    metrics["completion_length_median"] = Estimate(
        float(statistics.median(r["lengths"][0] for r in records)), float("nan"), float("nan"), n
    )
    if k > 1:
        counts = [(len(r["correct"]) - 1, int(sum(r["correct"][1:]))) for r in records]
        sampled_ok = sum(c for _, c in counts)
        sampled_n = sum(m for m, _ in counts)
        metrics["pass@1_sampled"] = proportion(sampled_ok, sampled_n)
        # mean over problems of each problem's mean over samples
        for key in ("target_share", "english_share"):
            per_problem = [
                [v for v in r.get(key, [None])[1:] if v is not None]
                for r in records
                if r.get(key) is not None
            ]
            means = [sum(v) / len(v) for v in per_problem if v]
            metrics[f"{key}_sampled"] = mean_estimate(means) if means else _NOTHING
        pk = mean_pass_at_k(counts, k)
        metrics[f"pass@{k}"] = (
            mean_estimate([mean_pass_at_k([c], k) for c in counts]) if n > 1 else Estimate(pk, pk, pk, n)
        )
        maj_ok = 0
        for r in records:
            votes = r.get("votes") or [rewards.normalize_answer(a) for a in r["extracted"]]
            maj_ok += majority_is_correct(votes[1 : k + 1], r["correct"][1 : k + 1])
        metrics[f"maj@{k}"] = proportion(maj_ok, n)
    return EvalResult(metrics=metrics, records=records, settings=settings or {})
