"""How a (question, answer) pair becomes token ids, per model.

The prompt and the answer are tokenised separately and concatenated, so the answer span is known
exactly: only answer tokens are ever scored or trained on, never the prompt. A tokenizer with a chat
template gets its own template; the default models get a plain QA template.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.io import shorten

PLAIN_TEMPLATE = "Question: {question}\nAnswer:"


@dataclass
class Encoded:
    prompt: list[int]
    answer: list[int]
    group: int = 0  # which forget corpus a document comes from (tasks with several); 0 otherwise


class PromptFormatter:
    """`context`: (question, answer) pairs put before a question as earlier turns (in-context examples:
    the in-context probe of harness/attacks/probe.py), before every question or only those in `only`;
    empty for ordinary evaluation. A prompt policy (the in-context form, harness/forms/incontext.py)
    adds `instruction`, a text put before everything (a chat model's system turn), and `pick`, a
    function question -> pairs chosen for that question, put before `context`."""

    def __init__(self, tokenizer, style: str = "auto", max_length: int = 512,
                 context: tuple[tuple[str, str], ...] = (), only: frozenset[str] | None = None,
                 instruction: str = "", pick=None):
        if style not in ("auto", "plain", "chat"):
            raise ValueError(f"eval.prompt_style: expected auto, plain or chat, got '{style}'")
        if style == "auto":
            style = "chat" if getattr(tokenizer, "chat_template", None) else "plain"
        if tokenizer.eos_token_id is None:
            raise ValueError("tokenizer has no eos token: answers could never end")
        self.tok, self.style, self.max_length = tokenizer, style, max_length
        self.context, self.only = tuple((q, a) for q, a in context), only
        self.instruction, self.pick = instruction, pick

    def with_context(self, pairs, only=None) -> PromptFormatter:
        """The same formatter with `pairs` as in-context examples before every question (or before the
        questions in `only`)."""
        return PromptFormatter(self.tok, self.style, self.max_length, tuple(pairs),
                               None if only is None else frozenset(only), self.instruction, self.pick)

    def with_policy(self, instruction: str = "", pick=None) -> PromptFormatter:
        """The same formatter with a prompt policy applied to every question."""
        return PromptFormatter(self.tok, self.style, self.max_length, self.context, self.only, instruction, pick)

    def prompt_ids(self, question: str) -> list[int]:
        """Token ids of the prompt alone (what generation starts from). '' means plain text."""
        if not question:
            return [self.tok.bos_token_id] if self.tok.bos_token_id is not None else []
        context = self.context if self.only is None or question in self.only else ()
        if self.pick is not None:
            context = tuple(self.pick(question)) + context
        if self.style == "chat":
            turns = [m for q, a in context for m in ({"role": "user", "content": q},
                                                          {"role": "assistant", "content": a})]
            return self._chat_ids(turns + [{"role": "user", "content": question}])
        # earlier turns in the same template, each answer as training formats it (" " + answer)
        shots = "".join(PLAIN_TEMPLATE.format(question=q) + f" {a}\n\n" for q, a in context)
        lead = f"{self.instruction}\n\n" if self.instruction else ""
        ids = self.tok(lead + shots + PLAIN_TEMPLATE.format(question=question), add_special_tokens=False)["input_ids"]
        bos = [self.tok.bos_token_id] if self.tok.bos_token_id is not None else []
        return bos + ids

    def _chat_ids(self, turns: list[dict]) -> list[int]:
        """The chat template's prompt; the instruction as a system turn, or, for a template that has no
        system role (it raises), at the head of the first user turn."""
        if self.instruction:
            try:
                return self._template([{"role": "system", "content": self.instruction}] + turns)
            except Exception:  # noqa: BLE001 - templates signal "no system role" with their own errors
                turns = [{**turns[0], "content": f"{self.instruction}\n\n{turns[0]['content']}"}] + turns[1:]
        return self._template(turns)

    def _template(self, turns: list[dict]) -> list[int]:
        ids = self.tok.apply_chat_template(turns, add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    def encode(self, question: str, answer: str, group: int = 0) -> Encoded:
        prompt = self.prompt_ids(question)
        text = (" " + answer) if (question and self.style == "plain") else answer
        ans = self.tok(text, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id]
        room = self.max_length - len(prompt)
        if room < 2:
            raise ValueError(f"prompt of {len(prompt)} tokens leaves no room for an answer "
                             f"(max_length={self.max_length}): {shorten(question, 60)!r}")
        return Encoded(prompt, ans[:room], group)
