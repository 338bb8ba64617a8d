"""Probes (harness/attacks/probe.py): the in-context prompt is built exactly as documented, the
paraphrase probe asks the paraphrased questions, the in-context probe changes only the forget and
holdout prompts, and both carry a control (the retain model under the same probe)."""
import json
import shutil

import pytest

from harness.attacks.probe import examples
from harness.cli import main
from harness.prompts import PromptFormatter


@pytest.fixture
def tok(qa_tok):
    return qa_tok


def test_in_context_prompt_is_earlier_turns_of_the_same_template(tok):
    pairs = [("Where was A born?", "A was born in B."), ("Who is C?", "C is a writer.")]
    fmt = PromptFormatter(tok, "plain").with_context(pairs, only={"Where was X born?"})
    expected = ("Question: Where was A born?\nAnswer: A was born in B.\n\n"
                "Question: Who is C?\nAnswer: C is a writer.\n\n"
                "Question: Where was X born?\nAnswer:")
    assert tok.decode(fmt.prompt_ids("Where was X born?"), skip_special_tokens=True) == expected
    # a question outside `only` is asked as the run asks it
    plain = PromptFormatter(tok, "plain")
    assert fmt.prompt_ids("Who is Y?") == plain.prompt_ids("Who is Y?")
    assert fmt.encode("Where was X born?", "X was born in Y.").answer == plain.encode("Where was X born?",
                                                                                      "X was born in Y.").answer


def test_in_context_prompt_under_a_chat_template(tok):
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\\n{% endfor %}"
                         "{% if add_generation_prompt %}assistant:{% endif %}")
    try:
        fmt = PromptFormatter(tok, "auto").with_context([("Who is C?", "C is a writer.")])
        text = tok.decode(fmt.prompt_ids("Where was X born?"), skip_special_tokens=True)
        assert text.replace(" ", "") == ("user:WhoisC?\\nassistant:Cisawriter.\\nuser:WherewasXborn?\\n"
                                         "assistant:")
    finally:
        tok.chat_template = None


def test_in_context_examples_are_seeded_retain_pairs():
    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(10)]
    assert examples(rows, 3, 0) == examples(rows, 3, 0) and len(set(examples(rows, 3, 0))) == 3
    assert examples(rows, 3, 0) != examples(rows, 3, 1)
    assert set(examples(rows, 3, 0)) <= {(r["question"], r["answer"]) for r in rows}


def _run(tiny_grid, tmp_path, method="npo"):
    out, _, _ = tiny_grid
    src = next(p for p in (out / "results" / "runs").iterdir() if f"-{method}-" in p.name)
    shutil.copytree(src, tmp_path / src.name)
    return tmp_path / src.name


def _read(run, attack, label):
    folder = run / "attacks" / attack / label
    return json.loads((folder / "metrics.json").read_text()), \
        [json.loads(x) for x in (folder / "items.jsonl").read_text().splitlines()]


def test_paraphrase_probe_asks_the_paraphrased_questions(tiny_grid, tmp_path):
    run = _run(tiny_grid, tmp_path)
    assert main(["attack", str(run), "paraphrase", "--quiet"]) == 0
    m, items = _read(run, "paraphrase", "probe")
    perturbed = [json.loads(x) for x in (_world(run) / "forget10_perturbed.jsonl").read_text().splitlines()]
    asked = [i["question"] for i in items if i["set"] == "forget"]
    assert asked == [r["paraphrased_question"] for r in perturbed] and asked != [r["question"] for r in perturbed]
    run_metrics = json.loads((run / "metrics.json").read_text())
    assert m["retain_prob_change"] == 0 and m["model_utility_change"] == 0  # only the forget questions changed
    assert m["forget_prob_change"] == pytest.approx(m["forget_prob"] - run_metrics["forget_prob"])
    assert m["forget_prob"] != run_metrics["forget_prob"]
    control = json.loads((run / "attacks" / "paraphrase" / "control.json").read_text())
    assert m["control_forget_prob_change"] == control["probe"]["forget_prob_change"] != 0
    assert m["forget_prob_net_change"] == pytest.approx(m["forget_prob_change"] - m["control_forget_prob_change"])


def _world(run):
    """The dataset folder the run read (recorded in its provenance)."""
    from harness.io import local
    return local(json.loads((run / "provenance.json").read_text())["models"]["source"])


def test_in_context_probe_changes_only_the_forget_prompts(tiny_grid, tmp_path, capsys):
    run = _run(tiny_grid, tmp_path)
    assert main(["attack", str(run), "incontext", "n_examples=2", "--quiet"]) == 0
    m, _ = _read(run, "incontext@n_examples=2", "n2")    # not the default 3 examples: a folder of its own
    run_metrics = json.loads((run / "metrics.json").read_text())
    assert m["model_utility_change"] == 0 and m["retain_prob_change"] == 0
    assert m["forget_prob"] != run_metrics["forget_prob"]
    assert "control_forget_prob_change" in m and "forget_quality_net_change" in m
    capsys.readouterr()
    for bad, expected in (("n_examples=0", "n_examples"), ("n_examples=999", "n_examples")):
        assert main(["attack", str(run), "incontext", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
