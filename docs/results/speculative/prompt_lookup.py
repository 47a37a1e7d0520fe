"""Could speculative decoding get an exact rollout past the weight-reading floor? A one-off measurement, kept as the
record of its numbers (docs/benchmarks.md, "Speculative decoding with prompt-lookup drafts"):

    python docs/results/speculative/prompt_lookup.py gsm8k K     # the benchmark work: 1 GSM8K prompt x 8, T 1, 128 tokens
    python docs/results/speculative/prompt_lookup.py r1_zero K   # the R1-Zero default's prompts, T and length

with K = 1, 2 or 4 drafted tokens per verifying forward (outputs beside this file, ``{work}_k{K}.txt``); a third
argument times the decode steps with that many rows instead of 8 (``r1_zero 2 64``: the R1-Zero default decodes 8
prompts x 8 = 64 rows; output ``r1_zero_k2_rows64.txt``).

Speculative sampling (Leviathan et al. 2023, Chen et al. 2023) keeps the policy's distribution exactly: a drafted
token d is accepted with probability min(1, p(d) / q(d)), which is p(d) for a deterministic draft, and on a rejection
the token is drawn from p with d removed. A prompt-lookup draft (the k tokens that followed the most recent earlier
occurrence of the context's last n-gram, n = 3, 2, 1) costs nothing to propose, so what decides the speed-up is

    tokens produced per verifying forward (m)  x  cost of a 1-token decode step (t1)  /  cost of a (k+1)-token one (tk).

Part 1 simulates the algorithm row by row with the real model (batch 1, a KV cache cropped after each rejection) and
counts tokens per forward; part 2 times a decode step of 8 rows with 1 and with k + 1 new tokens each, on the same
prompt's cache. The estimate for a batched implementation is printed at the end; no engine is built from it.
"""

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from transformers import DynamicCache  # noqa: E402

from minirl.config_parse import parse_args  # noqa: E402
from minirl.models import load_model_and_tokenizer  # noqa: E402
from minirl.prefill import with_cache  # noqa: E402
from minirl.tasks import PromptStyle, build_prompt, get_task  # noqa: E402

K = int(sys.argv[2]) if len(sys.argv) > 2 else 4  # drafted tokens per verifying forward
ROWS = int(sys.argv[3]) if len(sys.argv) > 3 else 8  # rows of the timed decode steps


def lookup(ids: list[int], k: int) -> list[int]:
    """Up to ``k`` tokens that followed the latest earlier occurrence of the last 3-, 2- or 1-gram of ``ids``."""
    for n in (3, 2, 1):
        if len(ids) <= n:
            continue
        tail = ids[-n:]
        for start in range(len(ids) - n - 1, -1, -1):
            if ids[start : start + n] == tail:
                return ids[start + n : start + n + k]
    return []


def keep(cache: DynamicCache, length: int) -> None:
    """Drop the cache's positions after the first ``length`` (transformers 5 crops by a negative count)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def draw(probs: torch.Tensor, gen: torch.Generator) -> int:
    """One token from ``probs`` [V] (not necessarily normalised)."""
    return int(torch.multinomial(probs / probs.sum(), 1, generator=gen))


@torch.no_grad()
def simulate(model, tok, prompt: str, temp: float, max_new: int, stop: str | None, gen) -> dict:
    """One row decoded by speculative sampling with prompt-lookup drafts: tokens, forwards, drafted forwards."""
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]  # [1, P]
    cache = DynamicCache()
    out = model(input_ids=ids, **with_cache(cache), use_cache=True)
    context = ids[0].tolist()
    new = [draw(torch.softmax(out.logits[0, -1].float() / temp, -1), gen)]
    forwards = drafted = accepted_total = 0
    while len(new) < max_new and new[-1] != tok.eos_token_id and not (stop and stop in tok.decode(new)):
        draft = lookup(context + new, K)[: max_new - len(new) - 1] if max_new - len(new) > 1 else []
        fed = cache.get_seq_length()
        step = torch.tensor([[new[-1], *draft]])  # [1, 1 + len(draft)]
        logits = model(input_ids=step, **with_cache(cache), use_cache=True).logits[0]  # [1 + len(draft), V]
        probs = torch.softmax(logits.float() / temp, -1)  # [1 + len(draft), V]
        forwards += 1
        drafted += bool(draft)
        produced = []
        for j, d in enumerate(draft):
            if float(torch.rand(1, generator=gen)) < float(probs[j, d]):
                produced.append(d)
                continue
            residual = probs[j].clone()
            residual[d] = 0.0
            produced.append(draw(residual, gen))
            break
        else:
            produced.append(draw(probs[len(draft)], gen))
        accepted = len(produced) - 1
        accepted_total += accepted
        keep(cache, fed + 1 + accepted)  # the fed token and the accepted drafts stay; rejected ones go
        for t in produced:
            new.append(t)
            if t == tok.eos_token_id or len(new) >= max_new or (stop and stop in tok.decode(new)):
                break
    return {"tokens": len(new), "forwards": forwards, "drafted": drafted, "accepted": accepted_total}


@torch.no_grad()
def time_steps(model, tok, prompt: str, rows: int = 8, repeats: int = 15) -> dict[int, float]:
    """Median ms of one decode step of ``rows`` rows with 1 and with K + 1 new tokens each, after ``prompt``."""
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].repeat(rows, 1)  # [rows, P]
    cache = DynamicCache()
    model(input_ids=ids, **with_cache(cache), use_cache=True)
    base = cache.get_seq_length()
    result = {}
    for width in (1, K + 1):
        step = torch.randint(100, 1000, (rows, width))  # [rows, width]
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(input_ids=step, **with_cache(cache), use_cache=True)
            times.append(time.perf_counter() - start)
            keep(cache, base)
        result[width] = 1000 * statistics.median(times[1:])
    return result


def work(name: str, tok):
    """``(prompts, temperature, max new tokens, stop string)`` of the benchmark work or the R1-Zero default."""
    if name == "gsm8k":
        task = get_task("gsm8k")
        ex = task.examples("train", n=1, seed=0)[0]
        return [build_prompt(ex, tok, PromptStyle(), task=task)] * 8, 1.0, 128, None
    cfg = parse_args([], default_config=ROOT / "recipes" / "configs" / "r1_zero_smollm2_cpu.yaml")
    task = get_task(cfg.data.task, **cfg.data.task_args)
    style = PromptStyle.from_config(cfg.data)
    examples = task.examples("train", n=8, seed=7)
    prompts = [build_prompt(ex, tok, style, task=task) for ex in examples]
    return prompts, cfg.rollout.temperature, cfg.rollout.max_new_tokens, "</answer>"


def main(name: str) -> None:
    """Simulate 8 rows, time the two step widths, print the estimate."""
    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer("smollm2-135m", device="cpu", dtype="fp32")
    model.eval()
    prompts, temp, max_new, stop = work(name, tok)
    gen = torch.Generator().manual_seed(0)
    rows = [simulate(model, tok, p, temp, max_new, stop, gen) for p in prompts]
    for r in rows:
        print(r)
    tokens = sum(r["tokens"] for r in rows)
    forwards = sum(r["forwards"] + 1 for r in rows)  # + the prefill's first token
    ms = time_steps(model, tok, prompts[0], rows=ROWS)
    per_forward = tokens / forwards
    print(f"work {name}: T {temp}, <= {max_new} tokens, k = {K} drafted tokens")
    print(f"tokens {tokens}, forwards {forwards}: {per_forward:.2f} tokens per forward per row")
    print(f"forwards with a draft: {sum(r['drafted'] for r in rows) / sum(r['forwards'] for r in rows):.2f}")
    print(f"decode step, {ROWS} rows: 1 token {ms[1]:.1f} ms, {K + 1} tokens {ms[K + 1]:.1f} ms")
    print(f"estimated rollout speed-up over the plain loop: {per_forward * ms[1] / ms[K + 1]:.2f}x")
    slowest = max(r["forwards"] + 1 for r in rows) / max(r["tokens"] for r in rows)
    print(f"... if the batch runs until its slowest row: {ms[1] / (slowest * ms[K + 1]):.2f}x")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gsm8k")
