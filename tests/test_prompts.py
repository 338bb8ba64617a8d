"""Prompt formatting: plain template for the default models, chat template for chat models; only
answer tokens are ever labelled."""
import pytest

from harness.prompts import PromptFormatter
from harness.tensors import IGNORE, collate


@pytest.fixture
def tok(qa_tok):
    return qa_tok


def test_plain_template_and_answer_only_labels(tok):
    fmt = PromptFormatter(tok, "auto")
    assert fmt.style == "plain"
    e = fmt.encode("Where was X born?", "X was born in Y.")
    assert tok.decode(e.prompt, skip_special_tokens=True) == "Question: Where was X born?\nAnswer:"
    assert e.answer[-1] == tok.eos_token_id
    assert tok.decode(e.answer, skip_special_tokens=True) == " X was born in Y."
    b = collate([e], tok.pad_token_id)
    labelled = b["labels"][0][b["labels"][0] != IGNORE].tolist()
    assert labelled == e.answer
    assert (b["labels"][0][:len(e.prompt)] == IGNORE).all()


def test_chat_template_is_used_when_present(tok):
    tok.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\\n{% endfor %}"
                         "{% if add_generation_prompt %}assistant:{% endif %}")
    try:
        fmt = PromptFormatter(tok, "auto")
        assert fmt.style == "chat"
        e = fmt.encode("Where was X born?", "X was born in Y.")
        assert tok.decode(e.prompt, skip_special_tokens=True).strip() == "user: Where was X born?\\nassistant:"
        assert tok.decode(e.answer, skip_special_tokens=True) == "X was born in Y."
    finally:
        tok.chat_template = None


def test_bad_style_and_truncation(tok):
    with pytest.raises(ValueError, match="prompt_style"):
        PromptFormatter(tok, "fancy")
    fmt = PromptFormatter(tok, "plain", max_length=40)
    e = fmt.encode("Where?", "a very long answer " * 10)
    assert len(e.prompt) + len(e.answer) == 40
    with pytest.raises(ValueError, match="no room"):
        PromptFormatter(tok, "plain", max_length=3).encode("Where was X born?", "Y")
