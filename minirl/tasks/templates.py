"""Prompt rendering: the DeepSeek-R1-Zero template (DeepSeek-R1 paper, Table 1), for base and chat models.

``R1_ZERO_TEMPLATE`` is the paper's template verbatim. A base model gets it as plain text with ``{prompt}``
replaced by the question; an instruct model gets its instruction as the system message and the question
as the user message, rendered by the tokenizer's chat template.

Two departures from the paper, both on by default (:class:`PromptStyle`), because small models need them:

- ``one_shot``: one worked example (the task's ``few_shot``) is shown after the instruction; ``worked_examples``
  shows several of your own instead, e.g. the same kind of problem solved a short and a stepwise way, so that the
  policy has more than one way to reason to choose from (docs/reasoning.md);
- ``prefill_think``: the prompt ends with ``<think>\\n``, so the model starts inside the think block.

SmolLM2-135M-Instruct with the R1 template as its system prompt emits no tag, so every reward is 0 and GRPO has no
signal to start from; with ``<think>`` prefilled, a one-shot example in the system prompt and a soft tag reward
(``tag_count``), the format rate reaches its maximum within a few steps (measured: docs/troubleshooting.md, section
Measured numbers). The ideal completion after such a prompt is :func:`render_completion`'s text.

``language`` (``zh``, ``fr``, ``es``, ``de``) swaps in a translated instruction, worked-example labels and question
wrapper (our own translations; the paper gives only the English template), and asks the task to word the question
and its worked example in that language (:meth:`Task.localize`: arithmetic does, so the whole prompt is in the
language apart from the tags and the chat template's role markers; other tasks keep their own text).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import rewards
from minirl.config_checks import ConfigError, check_worked_examples
from minirl.tasks.base import Example, ProceduralTask, Task

R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
    "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
    "User: {prompt}. Assistant:"
)
"""DeepSeek-R1 paper, Table 1, verbatim; ``{prompt}`` is replaced by the question."""

THINK_PREFILL = f"{rewards.THINK_OPEN}\n"

ANSWER_NOW = f"{rewards.THINK_CLOSE}\n{rewards.ANSWER_OPEN}"
"""What the reasoning ablation appends to a prompt that ends in ``<think>\\n``: the reasoning closes empty and the
answer has to follow at once (:func:`no_reasoning_suffix`)."""

# Per language: the instruction (the template before "User:"), the base-model turn wrapper, the heading
# and speaker labels of the worked example in a system message, and the question wrapper. The English pieces rebuild R1_ZERO_TEMPLATE exactly.
_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "instruction": R1_ZERO_TEMPLATE[: R1_ZERO_TEMPLATE.index(" User: {prompt}")],
        "turn": "User: {prompt}. Assistant:",
        "example_heading": "Here is an example:",
        "examples_heading": "Here are some examples:",
        "user": "User: ",
        "assistant": "Assistant: ",
        "question": "{question}",
    },
    "zh": {  # our own translation of the paper's instruction
        "instruction": (
            "这是用户与助手之间的对话。用户提出一个问题，由助手来解决。助手先在脑海中思考推理过程，然后向用户给出答案。"
            "推理过程和答案分别包含在 <think> </think> 和 <answer> </answer> 标签中，"
            "即 <think> 推理过程 </think> <answer> 答案 </answer>。"
        ),
        "turn": "用户：{prompt}\n助手：",
        "example_heading": "示例：",
        "examples_heading": "示例：",
        "user": "用户：",
        "assistant": "助手：",
        "question": "问题：{question}\n请用中文思考。",
    },
    "fr": {  # our own translations, as zh
        "instruction": (
            "Une conversation entre l'utilisateur et l'assistant. L'utilisateur pose une question, et l'assistant "
            "la résout. L'assistant réfléchit d'abord au raisonnement dans sa tête, puis donne la réponse à "
            "l'utilisateur. Le raisonnement et la réponse sont placés entre les balises <think> </think> et "
            "<answer> </answer>, c'est-à-dire <think> raisonnement ici </think> <answer> réponse ici </answer>."
        ),
        "turn": "Utilisateur : {prompt}\nAssistant :",
        "example_heading": "Voici un exemple :",
        "examples_heading": "Voici des exemples :",
        "user": "Utilisateur : ",
        "assistant": "Assistant : ",
        "question": "{question}\nRéfléchis en français.",
    },
    "es": {
        "instruction": (
            "Una conversación entre el usuario y el asistente. El usuario hace una pregunta, y el asistente la "
            "resuelve. El asistente primero piensa el razonamiento en su mente y luego le da la respuesta al "
            "usuario. El razonamiento y la respuesta van entre las etiquetas <think> </think> y <answer> </answer>, "
            "es decir, <think> razonamiento aquí </think> <answer> respuesta aquí </answer>."
        ),
        "turn": "Usuario: {prompt}\nAsistente:",
        "example_heading": "Aquí hay un ejemplo:",
        "examples_heading": "Aquí hay algunos ejemplos:",
        "user": "Usuario: ",
        "assistant": "Asistente: ",
        "question": "{question}\nPiensa en español.",
    },
    "de": {
        "instruction": (
            "Ein Gespräch zwischen Benutzer und Assistent. Der Benutzer stellt eine Frage, und der Assistent löst "
            "sie. Der Assistent denkt zuerst im Kopf über den Lösungsweg nach und gibt dem Benutzer dann die "
            "Antwort. Lösungsweg und Antwort stehen zwischen den Markierungen <think> </think> bzw. "
            "<answer> </answer>, also <think> Lösungsweg hier </think> <answer> Antwort hier </answer>."
        ),
        "turn": "Benutzer: {prompt}\nAssistent:",
        "example_heading": "Hier ist ein Beispiel:",
        "examples_heading": "Hier sind einige Beispiele:",
        "user": "Benutzer: ",
        "assistant": "Assistent: ",
        "question": "{question}\nDenke auf Deutsch.",
    },
}
TEMPLATES = ("r1_zero", "plain")
LANGUAGES = tuple(_TEXTS)


@dataclass
class PromptStyle:
    """How a problem becomes a prompt.

    Attributes:
        template: ``"r1_zero"`` (the paper's think/answer instruction) or ``"plain"`` (the question only:
            no instruction, no worked example, no prefill, since those exist to teach the tags).
        chat: render through the tokenizer's chat template; ``None`` = when the tokenizer has one.
        system_prompt: replaces the instruction (system message in chat mode, leading text otherwise);
            ``None`` = the template's instruction.
        one_shot: show a worked example after the instruction (``r1_zero`` only): the task's own, or
            ``worked_examples``.
        worked_examples: worked examples to show instead of the task's own, in order, each a mapping with
            ``question``, ``reasoning`` and ``answer`` (shown as written: they are not translated).
        prefill_think: end the prompt with ``<think>\\n`` (``r1_zero`` only).
        language: ``"en"``, ``"zh"``, ``"fr"``, ``"es"`` or ``"de"`` (our translations of the instruction, the
            example labels and the question wrapper; the task words the question, :meth:`Task.localize`).
    """

    template: str = "r1_zero"
    chat: bool | None = None
    system_prompt: str | None = None
    one_shot: bool = True
    prefill_think: bool = True
    language: str = "en"
    worked_examples: list[dict[str, str]] | None = None

    def __post_init__(self) -> None:
        self.worked_examples = check_worked_examples(self.worked_examples)
        if self.template not in TEMPLATES:
            raise ValueError(f"Unknown prompt template {self.template!r}: use one of {list(TEMPLATES)}.")
        if self.language not in LANGUAGES:
            raise ValueError(f"Unknown prompt language {self.language!r}: use one of {list(LANGUAGES)}.")

    @classmethod
    def from_config(cls, data: Any) -> PromptStyle:
        """The style a ``DataConfig`` (``minirl.config``) describes: its fields of the same names.

        >>> from minirl.config import DataConfig
        >>> PromptStyle.from_config(DataConfig(one_shot=False)).one_shot
        False
        """
        return cls(**{f.name: getattr(data, f.name) for f in fields(cls)})


def render_completion(example: Example, reasoning: str, answer: str | None = None) -> str:
    """The ideal completion after a prefilled prompt: ``"{reasoning}\\n</think>\\n<answer>{answer}</answer>"``.

    ``answer`` defaults to ``example.answer`` (for countdown pass the equation, ``task.answer_text(example)``).

    >>> render_completion(Example("What is 3 + 5?", "8"), "3 + 5 = 8.")
    '3 + 5 = 8.\\n</think>\\n<answer>8</answer>'
    """
    answer = example.answer if answer is None else answer
    return f"{reasoning.strip()}\n{rewards.THINK_CLOSE}\n{rewards.ANSWER_OPEN}{answer}{rewards.ANSWER_CLOSE}"


def worked_examples(style: PromptStyle, task: Task) -> list[tuple[Example, str]]:
    """The worked examples a prompt in ``style`` shows, each as ``(example, answer text)``: ``style.worked_examples``
    as written, else the task's own ``few_shot`` in the prompt's language.

    >>> from minirl.tasks.arithmetic import ArithmeticTask
    >>> style = PromptStyle(worked_examples=[{"question": "What is 1 + 2?", "reasoning": "1 + 2 = 3.", "answer": "3"}])
    >>> [(ex.question, answer) for ex, answer in worked_examples(style, ArithmeticTask())]
    [('What is 1 + 2?', '3')]
    """
    if style.worked_examples is None:
        ex = task.localize(task.few_shot, style.language)
        return [(ex, task.answer_text(ex))]
    return [
        (Example(w["question"], w["answer"], worked_reasoning=w["reasoning"]), w["answer"])
        for w in style.worked_examples
    ]


def check_not_held_out(style: PromptStyle, task: Task) -> None:
    """Refuse a ``style.worked_examples`` entry that is one of ``task``'s held-out problems: a prompt that shows it
    would leak its answer into every evaluation of it.

    Raises:
        ConfigError: naming the example and its question.

    >>> from minirl.tasks.arithmetic import ArithmeticTask
    >>> task = ArithmeticTask(max_digits=2)
    >>> held_out = task.examples("test", n=1)[0]
    >>> shown = {"question": held_out.question, "reasoning": "...", "answer": held_out.answer}
    >>> check_not_held_out(PromptStyle(worked_examples=[shown]), task)
    Traceback (most recent call last):
    ...
    minirl.config_checks.ConfigError: data.worked_examples[0] ('What is 86 + 94?') is a held-out problem of arithmetic: show a training problem instead
    """
    if not style.worked_examples:
        return
    if isinstance(task, ProceduralTask) or callable(getattr(task, "split_of", None)):  # a mixture has one too
        held_out = [
            task.split_of(Example(w["question"], w["answer"])) == "test" for w in style.worked_examples
        ]
    else:
        questions = {ex.question for ex in task.examples("test")}
        held_out = [w["question"] in questions for w in style.worked_examples]
    for i, (w, leak) in enumerate(zip(style.worked_examples, held_out)):
        if leak:
            raise ConfigError(
                f"data.worked_examples[{i}] ({w['question']!r}) is a held-out problem of {task.name}: show a "
                "training problem instead"
            )


def _worked_turns(style: PromptStyle, task: Task, chat: bool) -> str:
    """The worked examples, each as a user turn plus the ideal assistant reply."""
    texts = _TEXTS[style.language]
    turns = []
    for ex, answer in worked_examples(style, task):
        reply = THINK_PREFILL + render_completion(ex, ex.worked_reasoning or "", answer)
        question = texts["question"].format(question=ex.question)
        if chat:  # inside a system message: label the two sides
            turns.append(f"{texts['user']}{question}\n{texts['assistant']}{reply}")
        else:
            turns.append(texts["turn"].format(prompt=question) + " " + reply)
    if not chat:
        return "\n".join(turns)
    heading = texts["example_heading"] if len(turns) == 1 else texts["examples_heading"]
    return heading + "\n" + "\n\n".join(turns)


def no_reasoning_suffix(prompt: str) -> str:
    """The text that, appended to ``prompt``, makes the model answer with no reasoning (the reasoning ablation):
    ``</think>\\n<answer>`` after a prompt that opens the reasoning, ``<think>\\n</think>\\n<answer>`` otherwise.
    Prepend it to the completion to score it as usual.

    >>> no_reasoning_suffix("User: What is 3 + 5?. Assistant: <think>\\n")
    '</think>\\n<answer>'
    >>> no_reasoning_suffix("User: What is 3 + 5?. Assistant:")
    '<think>\\n</think>\\n<answer>'
    """
    return ANSWER_NOW if prompt.rstrip().endswith(THINK_PREFILL.strip()) else THINK_PREFILL + ANSWER_NOW


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _apply_chat_template(tokenizer: Any, system: str | None, user: str) -> str:
    messages = [{"role": "user", "content": user}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:
        if not system:
            raise
        # Some templates (e.g. Gemma's) reject a system role: fold the system text into the user turn.
        merged = [{"role": "user", "content": f"{system}\n\n{user}"}]
        text = tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str):
        raise TypeError(
            f"tokenizer.apply_chat_template returned {type(text).__name__}, expected the prompt text"
        )
    return text


def build_prompt(
    example: Example, tokenizer: Any, style: PromptStyle | None = None, task: Task | None = None
) -> str:
    """The exact prompt text fed to the model for ``example``.

    Chat mode renders ``[system, user]`` with ``apply_chat_template(..., add_generation_prompt=True)``, then
    appends the ``<think>\\n`` prefill (unless the chat template already ends with ``<think>``, as
    R1-distilled models' templates do). Otherwise the R1-Zero template is filled in as plain text
    (``tokenizer`` may be ``None``). ``task`` supplies the worked example for ``one_shot``; without a task no
    example is shown. Chat templates may already include the BOS token, so tokenize the result with
    ``add_special_tokens=False``.

    >>> ex = Example("What is 3 + 5?", "8")
    >>> build_prompt(ex, None, PromptStyle(chat=False)).split("</answer>. ")[-1]
    'User: What is 3 + 5?. Assistant: <think>\\n'
    """
    style = style or PromptStyle()
    texts = _TEXTS[style.language]
    chat = _has_chat_template(tokenizer) if style.chat is None else style.chat
    if chat and not _has_chat_template(tokenizer):
        raise ValueError(
            "PromptStyle(chat=True) needs a tokenizer with a chat template; this one has none. "
            "Use chat=False (plain R1-Zero text) or chat=None (auto)."
        )
    if task is not None:
        example = task.localize(example, style.language)
    question = texts["question"].format(question=example.question)
    r1 = style.template == "r1_zero"
    instruction = (
        style.system_prompt if style.system_prompt is not None else (texts["instruction"] if r1 else "")
    )
    example_turn = _worked_turns(style, task, chat) if r1 and style.one_shot and task is not None else ""
    prefill = THINK_PREFILL if r1 and style.prefill_think else ""

    if chat:
        system = "\n\n".join(part for part in (instruction, example_turn) if part)
        text = _apply_chat_template(tokenizer, system or None, question)
        if prefill and text.rstrip().endswith(THINK_PREFILL.strip()):
            return text if text.endswith("\n") else text + "\n"
        return text + prefill
    if not r1:
        return f"{instruction}\n\n{question}" if instruction else question
    turn = texts["turn"].format(prompt=question)
    head = " ".join(part for part in (instruction, example_turn) if part)
    separator = "\n" if example_turn else " "  # the worked answer ends a line; the instruction does not
    text = f"{head}{separator}{turn}" if head else turn
    return f"{text} {prefill}" if prefill else text
