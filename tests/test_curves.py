"""Unlearning curves and the declared checkpoint rule (harness/curves.py): the rule on hand-made
curves, bad rules as one-line errors before any compute, the curve leaving the run untouched, point 0
equal to the start model's own numbers, the chosen checkpoint being the one evaluated, requests, and
the page's plots."""
import json
import math

import pytest

from harness import curves
from harness.cli import main

# several steps per run: 4 forget items in batches of 2, 3 epochs = 6 steps
STEPS = ["unlearn.epochs=3", "unlearn.batch_size=2", "unlearn.retain_batch_size=2"]


def _run(tmp_path, tiny, *args, name="r") -> dict:
    out = tmp_path / name
    assert main(["run", "task=tofu_forget10", *tiny, *STEPS, *args, f"results_dir={out}", "--quiet"]) == 0
    folder = next((out / "runs").iterdir())
    read = lambda f: json.loads((folder / f).read_text())  # noqa: E731
    lines = lambda f: [json.loads(x) for x in (folder / f).read_text().splitlines()] \
        if (folder / f).exists() else None  # noqa: E731
    return {"folder": folder, "metrics": read("metrics.json"), "compute": read("compute.json"),
            "curve": lines("curve.jsonl"), "log": lines("train_log.jsonl")}


def _points(values):
    """A hand-made curve: (forget_truth_ratio, retain_prob) per step 0, 2, 4, ..."""
    return [{"step": 2 * i, "ftr": f, "util": u} for i, (f, u) in enumerate(values)]


def test_rule_picks_the_right_step_on_a_hand_made_curve():
    pts = _points([(0.2, 1.0), (0.3, 0.95), (0.5, 0.91), (0.7, 0.89), (0.9, 0.5)])
    assert curves.select(pts, "last", "util", 0.9) == 4
    # utility >= 0.9 x 1.0 at steps 0, 2, 4; the best forget_truth_ratio among them is step 4's (index 2)
    assert curves.select(pts, "max:ftr", "util", 0.9) == 2
    assert curves.select(pts, "max:ftr", "util", 0.0) == 4          # no floor: the best overall
    assert curves.select(pts, "max:ftr", "util", 0.92) == 1
    assert curves.select(pts, "min:ftr", "util", 0.9) == 0          # point 0 is a candidate
    assert curves.select(pts, "max:ftr", "util", 1.0) == 0          # nothing else keeps all the utility
    ties = _points([(0.2, 1.0), (0.6, 0.95), (0.6, 0.95), (0.4, 0.95)])
    assert curves.select(ties, "max:ftr", "util", 0.9) == 1         # equal values: the first step
    nan = _points([(0.2, 1.0), (math.nan, 0.95), (0.5, math.nan), (0.3, 0.95)])
    assert curves.select(nan, "max:ftr", "util", 0.9) == 3          # non-finite values are never chosen
    assert curves.select(pts, "max:ftr", "util", 0.9, base=0.5) == 4  # the floor is relative to `base`
    assert curves.select(_points([(0.2, math.nan), (0.5, 1.0)]), "max:ftr", "util", 0.9) == 1  # no base: last
    assert curves.parse_rule("max:forget_truth_ratio") == ("max", "forget_truth_ratio")
    assert curves.parse_rule("last") == ("last", None)


@pytest.mark.parametrize("args, fragment", [
    (["unlearn.select=maximum:forget_prob"], "'unlearn.select': expected last, max:<curve metric> or min:<curve"),
    (["unlearn.select=max:forget_truth_rato", "unlearn.curve_every=2"],
     "'forget_truth_rato' is not a curve metric of family tofu; did you mean 'forget_truth_ratio'?"),
    (["unlearn.select=max:forget_quality", "unlearn.curve_every=2"], "not a curve metric of family tofu"),
    (["unlearn.select=max:forget_truth_ratio"], "the unlearning curve, which is off (unlearn.curve_every=0)"),
    (["unlearn.curve_every=2", "task=wmdp_synthetic"], "task 'wmdp_synthetic' (family wmdp) has no unlearning curve"),
    (["unlearn.select_floor=1.5"], "'unlearn.select_floor': expected a finite number in [0, 1]"),
    (["unlearn.curve_every=-1"], "'unlearn.curve_every': expected an integer >= 0 (0 = no curve)"),
    (["unlearn.curve_items=0"], "'unlearn.curve_items': expected an integer >= 1"),
])
def test_bad_curve_settings_are_one_line_errors_before_compute(capsys, tmp_path, args, fragment):
    rc = main(["run", "task=tofu_forget10", "method=npo", *args, f"results_dir={tmp_path}"])
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x]
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert not (tmp_path / "runs").exists()


def test_the_curve_changes_nothing_of_the_run(tmp_path, tiny):
    """curve_every > 0 with select=last: the same metrics, train log and unlearning FLOPs as without the
    curve. LoRA dropout draws random numbers in training mode and NPO's reference is the same network
    with its adapters off: a probe that left the model in another mode or changed the RNG shows here.
    The curve's own cost is recorded apart. (Full fine-tuning: the next test but one.)"""
    lora = ["method=npo", "adapter.kind=lora", "adapter.dropout=0.3"]
    plain = _run(tmp_path, tiny, *lora, name="plain")
    curved = _run(tmp_path, tiny, *lora, "unlearn.curve_every=4", name="curved")
    assert curved["metrics"] == plain["metrics"]
    assert curved["log"] == plain["log"]
    for k in ("flops_forward", "flops_backward", "steps", "tokens_forward", "tokens_backward"):
        assert curved["compute"][k] == plain["compute"][k], k
    assert plain["curve"] is None and "curve_s" not in plain["compute"]
    assert [p["step"] for p in curved["curve"]] == [0, 4, 6]          # point 0, every 4 steps, the last
    assert [p["selected"] for p in curved["curve"]] == [False, False, True]
    c = curved["compute"]
    assert c["selected_step"] == 6 and c["curve_points"] == 3 and c["curve_flops"] > 0 and c["curve_s"] > 0
    assert c["curve_rule"]["select"] == "last" and c["curve_rule"]["utility"] == "retain_prob"


def test_point_zero_is_the_start_model_and_a_chosen_step_zero_is_evaluated(tmp_path, tiny):
    """The target evaluated as is gives forget_prob, forget_truth_ratio and retain_prob on all its items
    (4 each in the tiny world, fewer than curve_items); the curve's point 0 must equal them. A rule
    that keeps step 0 (the highest forget probability, no floor) must give exactly the target's
    numbers, while the steps spent are still counted."""
    target = _run(tmp_path, tiny, "method=none", name="target")
    run = _run(tmp_path, tiny, "method=grad_ascent", "unlearn.curve_every=2", "unlearn.select=max:forget_prob",
               "unlearn.select_floor=0", "unlearn.select_on=evaluated", name="ga")
    p0 = run["curve"][0]
    assert p0["step"] == 0 and target["metrics"]["forget_n"] == 4 and target["metrics"]["retain_n"] == 4
    assert p0["forget_prob"] == pytest.approx(target["metrics"]["forget_prob"], rel=1e-6)
    assert p0["forget_truth_ratio"] == pytest.approx(target["metrics"]["forget_truth_ratio"], rel=1e-6)
    assert p0["retain_prob"] == pytest.approx(target["metrics"]["retain_prob"], rel=1e-5)
    assert all(p["forget_prob"] < p0["forget_prob"] for p in run["curve"][1:])  # gradient ascent forgets
    assert [p["selected"] for p in run["curve"]] == [True, False, False, False]
    assert run["compute"]["selected_step"] == 0 and run["compute"]["steps"] == 6
    assert run["metrics"] == target["metrics"]


def test_the_chosen_middle_step_is_the_model_evaluated(tmp_path, tiny):
    """A floor that only the first steps meet: the run is evaluated on that checkpoint, so its numbers
    equal those of the same run stopped there (unlearn.max_steps; the data order and learning-rate
    schedule up to that step are the same)."""
    plain = _run(tmp_path, tiny, "method=npo", name="plain")
    free = _run(tmp_path, tiny, "method=npo", "unlearn.curve_every=2", name="free")
    assert free["metrics"] == plain["metrics"]  # full fine-tuning, a reference copy: the curve changes nothing
    assert [free["compute"][k] for k in ("flops_forward", "flops_backward")] == \
           [plain["compute"][k] for k in ("flops_forward", "flops_backward")]
    pts = free["curve"]
    u = [p["retain_prob"] for p in pts]
    assert u[1] < u[0] and u[2] < u[1], u  # the utility falls: a floor between steps 2 and 4 bites
    floor = u[1] / u[0] * (1 - 1e-9)
    want = pts[curves.select(pts, "min:forget_prob", "retain_prob", floor)]["step"]
    assert want == 2, pts
    chosen = _run(tmp_path, tiny, "method=npo", "unlearn.curve_every=2", "unlearn.select=min:forget_prob",
                  f"unlearn.select_floor={floor!r}", "unlearn.select_on=evaluated", name="chosen")
    assert [{k: v for k, v in p.items() if k != "selected"} for p in chosen["curve"]] == \
           [{k: v for k, v in p.items() if k != "selected"} for p in pts]       # the same trajectory
    assert [p["step"] for p in chosen["curve"] if p["selected"]] == [2] and chosen["compute"]["selected_step"] == 2
    stopped = _run(tmp_path, tiny, "method=npo", "unlearn.max_steps=2", name="stopped")
    assert chosen["metrics"] == stopped["metrics"] and chosen["metrics"] != free["metrics"]
    assert chosen["compute"]["steps"] == 6  # every step spent is part of the cost


MUSE = ["task=muse_news_synthetic_sust", "method=grad_ascent", "eval.bootstrap=50", "unlearn.curve_every=1",
        "unlearn.select=min:knowmem_forget_prob", "unlearn.select_floor=0.5", "unlearn.select_on=evaluated"]


def test_requests_continue_the_curve_and_the_page_plots_both(tmp_path, tiny):
    """Sequential requests: the curve goes on across them (steps add up, each point tagged with its
    request, one point 0); the rule picks within each request, among its points and its start (the
    previous request's choice), the floor relative to point 0; MUSE's curve point 0 is KnowMem's answer
    probability computed by hand; the page has the curve and the per-request plots."""
    import torch

    from harness import models as MD
    from harness.families.muse import data as musedata
    from harness.config import load_run_config
    from harness.prompts import Encoded
    from harness.runs import load_data, resolve
    from harness.tensors import answer_logprobs, collate

    out = tmp_path / "r"
    assert main(["run", *tiny, *MUSE, f"results_dir={out}", "--quiet"]) == 0
    folder = next((out / "runs").iterdir())
    pts = [json.loads(x) for x in (folder / "curve.jsonl").read_text().splitlines()]
    reqs = [json.loads(x) for x in (folder / "requests.jsonl").read_text().splitlines()]
    steps = [p["step"] for p in pts]
    assert steps == list(range(steps[-1] + 1)) and steps[-1] == reqs[-1]["steps"]
    bounds = [0] + [r["steps"] for r in reqs]
    assert pts[0]["request"] == 1 and all(bounds[p["request"] - 1] < p["step"] <= bounds[p["request"]] for p in pts[1:])
    chosen, base = 0, pts[0]["knowmem_retain_prob"]
    for r in reqs:  # the rule, request by request, from the points alone
        cands = [pts[chosen]] + [p for p in pts if p.get("request") == r["request"] and p["step"] > 0]
        pick = cands[curves.select(cands, "min:knowmem_forget_prob", "knowmem_retain_prob", 0.5, base)]
        assert r["selected_step"] == pick["step"], (r, cands)
        chosen = pts.index(pick)
    assert [p["step"] for p in pts if p["selected"]] == sorted({r["selected_step"] for r in reqs})
    assert json.loads((folder / "compute.json").read_text())["selected_step"] == reqs[-1]["selected_step"]
    # point 0 by hand: MUSE's few-shot KnowMem prompt, then " answer" + eos, mean P~ over the first 16
    from harness.io import local
    target = str(local(json.loads((folder / "provenance.json").read_text())["models"]["target"]))
    model, tok = MD.load_model(target, "float32", "cpu"), MD.load_tokenizer(target)
    data = load_data(resolve(load_run_config(None, [*tiny, *MUSE])))
    shots, qa = data["eval"]["knowmem_forget_icl"][:3], data["eval"]["knowmem_forget"][:16]
    probs = []
    for q in qa:
        prompt = tok(musedata.knowmem_prompt(shots, q["question"]), add_special_tokens=False)["input_ids"]
        ans = tok(" " + q["answer"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        lp = answer_logprobs(model, collate([Encoded(bos + prompt, ans)], MD.pad_id(tok)))
        probs.append(float(torch.exp(-lp.nll_mean[0].detach())))
    assert pts[0]["knowmem_forget_prob"] == pytest.approx(sum(probs) / len(probs), rel=1e-5)
    assert main(["leaderboard", "--results", str(out)]) == 0
    html = (out / "leaderboard.html").read_text()
    assert "muse_news_synthetic_sust: unlearning curve" in html and "muse_news_synthetic_sust: utility proxy" in html
    assert "muse_news_synthetic_sust: knowmem_forget after each request" in html
    assert "muse_news_synthetic_sust: knowmem_retain after each request" in html
    assert '"series"' not in html  # drawn, not shipped in the page's data
