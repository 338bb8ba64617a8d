"""The other forms of unlearning (harness/forms/): the contract every form keeps, SISA's shards and
exactness, the in-context prompts, DP-SGD's accountant, and their bad inputs (one line, exit 2)."""
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from harness import models as MD
from harness.cli import main
from harness.io import local
from harness.config import ConfigError
from harness.forms import INTERFACE, load_forms
from harness.families.tofu.authors import AuthorUnits, author_blocks, author_name
from harness.forms.incontext import flipped, icul_picker
from harness.forms.sisa import assign
from harness.prompts import PromptFormatter
from harness.families import load_tracks
from harness.families.tofu import world as world


def test_every_form_keeps_the_contract():
    forms = load_forms()
    assert {"sisa", "incontext", "dp"} <= set(forms)
    for name, f in forms.items():
        missing = [a for a in INTERFACE if not hasattr(f, a)]
        assert not missing, f"form {name} lacks {missing}"
        assert dataclasses.is_dataclass(f.Config) and f.kind in ("exact", "in-context", "dp-training")
        from harness.families import CAPABILITIES, serves  # what it needs of a family: named capabilities
        assert set(f.requires) <= set(CAPABILITIES) and any(serves(f, t) for t in load_tracks().values()), name
        assert isinstance(f.label(f.Config()), str) and f.label(f.Config())
        assert isinstance(f.seeded(f.Config()), bool), name
    # whether the run seed changes what the form produces: a grid runs an unseeded one once
    assert forms["sisa"].seeded(forms["sisa"].Config()) and forms["dp"].seeded(forms["dp"].Config())
    ic = forms["incontext"]
    assert ic.seeded(ic.Config(policy="icul")) and not ic.seeded(ic.Config(policy="pretend"))


@pytest.mark.parametrize("units, shards, slices", [(10, 4, 1), (40, 4, 3), (7, 7, 1), (9, 2, 2)])
def test_sisa_assignment_never_splits_an_author(units, shards, slices):
    plan = assign(units, shards, slices, seed=0)
    placed = [u for shard in plan for sl in shard for u in sl]
    assert sorted(placed) == list(range(units))                  # each author exactly once
    sizes = [sum(len(sl) for sl in shard) for shard in plan]
    assert max(sizes) - min(sizes) <= 1                          # balanced shards
    assert all(sl for shard in plan for sl in shard)               # every slice holds an author
    assert assign(units, shards, slices, seed=0) == plan          # the seed fixes it


def test_author_names_and_flipped_answers():
    files = world.generate("tiny", 0)
    blocks = author_blocks(files["full"], 4, "test")
    names = [author_name(b) for b in blocks]
    assert all(names) and len(set(names)) == len(names)
    assert all(n in b[0]["question"] for n, b in zip(names, blocks))
    pairs = flipped(files["full"][:8], files["full"][8:16], 4, AuthorUnits)
    for (q, wrong), row in zip(pairs, files["full"][:8]):
        assert q == row["question"] and wrong != row["answer"]
        assert author_name([row]) == "" or names[files["full"].index(row) // 4] in wrong  # this author's name
    with pytest.raises(ConfigError, match="not whole authors of 4"):
        author_blocks(files["full"][:6], 4, "x")


def test_incontext_prompts_are_built_as_documented(qa_tok):
    files = world.generate("tiny", 0)
    forget, retain = files["forget10"], files["retain90"]
    plain = PromptFormatter(qa_tok, "plain", 512)
    q = forget[0]["question"]
    pretend = plain.with_policy(instruction="Forget X.")
    assert qa_tok.decode(pretend.prompt_ids(q), skip_special_tokens=True) == f"Forget X.\n\nQuestion: {q}\nAnswer:"
    pick = icul_picker(forget, retain, 4, n_forget=1, n_retain=2, seed=0, units=AuthorUnits)
    shots = pick(q)
    assert len(shots) == 3 and shots[0][0] == q and shots[0][1] != forget[0]["answer"]  # itself, flipped
    assert all(a == r["answer"] for (qq, a) in shots[1:] for r in retain if r["question"] == qq)  # retain: correct
    assert q not in [s[0] for s in shots[1:]]
    rq = retain[0]["question"]
    assert rq not in [s[0] for s in pick(rq)[1:]]          # a retain question is never its own example
    icul = plain.with_policy(pick=pick)
    text = qa_tok.decode(icul.prompt_ids(q), skip_special_tokens=True)
    assert text == "".join(f"Question: {a}\nAnswer: {b}\n\n" for a, b in shots) + f"Question: {q}\nAnswer:"


def test_chat_template_gets_a_system_turn_or_a_prefix(qa_tok):
    import copy
    tok = copy.deepcopy(qa_tok)
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    fmt = PromptFormatter(tok, "chat", 512).with_policy(instruction="Forget X.")
    assert tok.decode(fmt.prompt_ids("Q?")).replace(" ", "") == "<system>ForgetX.<user>Q?<assistant>"
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system') }}"
                         "{% endif %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>")
    fmt = PromptFormatter(tok, "chat", 512).with_policy(instruction="Forget X.")
    assert tok.decode(fmt.prompt_ids("Q?")).replace(" ", "").replace("\n", "") == "<user>ForgetX.Q?<assistant>"


def _run(tiny, tmp_path, *extra):
    assert main(["run", *tiny, f"results_dir={tmp_path}", "--quiet", *extra]) == 0
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    return folder


def _read(folder: Path, name: str):
    return json.loads((folder / name).read_text())


def test_sisa_retrains_only_the_shard_that_held_the_forget_author(tiny, tmp_path):
    folder = _run(tiny, tmp_path, "method=sisa", "method_args.shards=3")
    form, compute = _read(folder, "form.json"), _read(folder, "compute.json")
    assert form["kind"] == "exact" and form["label"] == "sisa_k3" and len(form["retrained_shards"]) == 1
    shards = _read(folder / "model", "shards.json")
    forget = {r["question"] for r in world.generate("tiny", 0)["forget10"]}
    for s in shards:  # exact by construction: no constituent of the result ever saw a forget question
        assert not forget & set(s["trained_on"]), s["shard"]
    held = [s for s in shards if s["retrained"]]
    assert [s["shard"] for s in held] == form["retrained_shards"]
    assert 0 < compute["cost_vs_retrain"] < 1 and compute["unlearn_s"] > 0
    model = MD.load_model(str(folder / "model"), device="cpu")
    assert len(model.members) == 3
    assert compute["trainable_params"] == sum(p.numel() for p in model.members[0].parameters())  # one shard
    root = local(form["constituents"])
    for s in shards:  # the shards without a forget author are the cached originals, untouched
        ours = MD.load_model(str(folder / "model" / f"shard_{s['shard']}"), device="cpu").state_dict()
        orig = MD.load_model(str(root / f"shard_{s['shard']}" / "stage_0"), device="cpu").state_dict()
        assert all(torch.equal(ours[k], orig[k]) for k in orig) != s["retrained"], s["shard"]
    m = _read(folder, "metrics.json")
    assert 0 <= m["forget_quality"] <= 1 and m["retain_prob"] > 0 and m["model_utility"] >= 0


def test_sisa_with_one_shard_is_retraining(tiny, tmp_path):
    """K = 1: the constituent is trained exactly as the target, and after the request exactly as the
    retain model (same examples, order and seed): same weights."""
    folder = _run(tiny, tmp_path, "method=sisa", "method_args.shards=1")
    paths = {k: str(local(v)) for k, v in _read(folder, "provenance.json")["models"].items()}
    ours = MD.load_model(str(folder / "model" / "shard_0"), device="cpu").state_dict()
    retain = MD.load_model(paths["retain"], device="cpu").state_dict()
    assert all(torch.equal(ours[k], retain[k]) for k in retain)
    original = local(_read(folder, "form.json")["constituents"]) / "shard_0" / "stage_0"
    target = MD.load_model(paths["target"], device="cpu").state_dict()
    first = MD.load_model(str(original), device="cpu").state_dict()
    assert all(torch.equal(first[k], target[k]) for k in target)
    assert _read(folder, "metrics.json")["forget_quality"] == pytest.approx(1.0)


def test_sisa_slices_restart_from_the_checkpoint_before_the_forget_author(tiny, tmp_path):
    folder = _run(tiny, tmp_path, "method=sisa", "method_args.shards=2", "method_args.slices=2")
    shards = _read(folder / "model", "shards.json")
    (held,) = [s for s in shards if s["retrained"]]
    assert held["from_stage"] in (0, 1)
    assert (folder / "model" / "shard_0").is_dir() and (folder / "model" / "shard_1").is_dir()


def test_incontext_row_keeps_the_weights_membership_numbers(tiny, tmp_path):
    from sklearn.metrics import roc_auc_score
    target = _read(_run(tiny, tmp_path / "t", "method=none", "start=target"), "metrics.json")
    folder = _run(tiny, tmp_path / "i", "method=incontext", "method_args.policy=icul")
    m, form, compute = _read(folder, "metrics.json"), _read(folder, "form.json"), _read(folder, "compute.json")
    for k in ("mia_auc_loss", "mia_auc_zlib", "mia_auc_min_k", "mia_auc_min_k_pp", "privleak", "privleak_diff"):
        assert m[k] is target[k] is None or m[k] == pytest.approx(target[k]), k   # the weights did not change
    # every reported AUC recomputed from the run's own items: forget (label 1) against holdout, the
    # loss-like score as it is (harness/metrics.py's orientation); the weights' scores are `mia_weights`,
    # the prompted ones `mia`
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    forget = [i for i in items if i["set"] == "forget"]
    holdout = [i for i in items if i["set"] == "holdout"]
    assert forget and holdout and form["mia_source"] == "weights"
    assert form["mia_items"] == {"weights": "mia_weights", "policy": "mia"}
    for prefix, field in (("", "mia_weights"), ("policy_", "mia")):
        for attack in ("loss", "zlib", "min_k", "min_k_pp"):
            auc = roc_auc_score([1] * len(forget) + [0] * len(holdout), [i[field][attack] for i in forget + holdout])
            assert m[f"{prefix}mia_auc_{attack}"] == pytest.approx(auc, abs=1e-12), (prefix, attack)
        ref = m["retain_model_mia_auc_min_k"]
        assert m[f"{prefix}privleak_diff"] == pytest.approx((m[f"{prefix}mia_auc_min_k"] - ref) * 100, abs=1e-9)
        if ref > 0:  # the ratio is undefined (missing) where the retain model's AUC is 0
            assert m[f"{prefix}privleak"] == pytest.approx((m[f"{prefix}mia_auc_min_k"] - ref) / ref * 100, abs=1e-9)
        else:
            assert m[f"{prefix}privleak"] is None
    assert any(i["mia"] != i["mia_weights"] for i in forget)  # the policy changed the prompted scores
    assert m["forget_prob"] != pytest.approx(target["forget_prob"])  # the policy did change the answers
    assert form["label"] == "icul" and "weights unchanged" in form["note"]
    assert compute["extra_prompt_tokens"] == form["extra_prompt_tokens"] > 20
    assert compute["unlearn_flops"] == 0 and compute["cost_vs_retrain"] is None
    assert not (folder / "model").exists()


def test_dp_target_reports_the_accountants_epsilon(tiny, tmp_path):
    from opacus.accountants import RDPAccountant
    folder = _run(tiny, tmp_path, "method=dp", "method_args.epsilon=8", "method_args.epochs=3",
                  "method_args.batch_size=32")
    form = _read(folder, "form.json")
    assert form["label"] == "dp_eps8" and form["kind"] == "dp-training"
    meta = _read(local(form["dp_model"]), MD.META)["train"]
    acc = RDPAccountant()  # the same (sigma, q, steps) accounted again, independently of the run
    acc.history = [(meta["noise_multiplier"], meta["sample_rate"], meta["steps"])]
    assert form["epsilon"] == pytest.approx(acc.get_epsilon(meta["delta"]))
    assert 7.5 < form["epsilon"] <= 8.0 + 1e-6 and form["noise_multiplier"] > 0
    files = world.generate("tiny", 0)  # 10 authors x 4 QA, a phrasing of each, the base corpus replayed
    n = len(files["full"]) + len(files["phrasings"]) + len(files["pretrain"])
    assert form["n_examples"] == n and meta["sample_rate"] == pytest.approx(32 / n)
    assert form["delta"] == pytest.approx(n ** -1.1) and form["train_vs_target"] > 0   # below 1/n
    # an author is in 4 QA rows and their 4 phrasings: group privacy at k = 8 is vacuous at epsilon ~ 8
    assert form["author_examples"] == 8 and form["author_epsilon"] == pytest.approx(8 * form["epsilon"])
    assert form["author_delta"] == 1.0 and "no meaningful author-level guarantee" in form["note"]
    assert meta["seed"] == 0  # run seed 0: the world seed, as before run seeds reached the form
    paths = {k: str(local(v)) for k, v in _read(folder, "provenance.json")["models"].items()}
    ours = MD.load_model(str(folder / "model"), device="cpu").state_dict()
    target = MD.load_model(paths["target"], device="cpu").state_dict()
    assert any(not torch.equal(ours[k], target[k]) for k in target)


def test_dp_default_delta_is_below_one_over_n():
    from harness.forms.dp import DPConfig, default_delta
    assert default_delta(DPConfig(), 1000) == pytest.approx(5.011872e-4, rel=1e-6)   # 10^-3.3
    assert default_delta(DPConfig(), 1055) == pytest.approx(4.7252e-4, rel=1e-4)      # the default world's n
    assert default_delta(DPConfig(delta=1e-5), 1000) == 1e-5                          # given: kept


def test_author_level_guarantee_by_group_privacy():
    """(k eps, k e^((k-1) eps) delta) for a group of k examples (Dwork & Roth 2014), by hand."""
    from harness.forms.dp import _author_level, _author_note, group_privacy
    assert group_privacy(0.5, 1e-6, 1) == pytest.approx((0.5, 1e-6))
    assert group_privacy(0.5, 1e-6, 2) == pytest.approx((1.0, 3.297443e-6), rel=1e-6)   # 2 e^0.5 1e-6
    assert group_privacy(1.0, 1e-8, 3) == pytest.approx((3.0, 2.216717e-7), rel=1e-6)   # 3 e^2 1e-8
    assert group_privacy(8.0, 1e-3, 20)[1] > 1e60 and group_privacy(8.0, 1e-3, 200)[1] == math.inf
    info = _author_level(1.0, 1e-8, 3)
    assert info == pytest.approx({"author_examples": 3, "author_epsilon": 3.0, "author_delta": 2.216717e-7}, rel=1e-6)
    assert "per author (3 examples): epsilon=3.00 at delta=2.2e-07" in _author_note(info)
    vacuous = _author_level(8.0, 4.7e-4, 20)
    assert vacuous["author_epsilon"] == 160.0 and vacuous["author_delta"] == 1.0
    assert "no meaningful author-level guarantee" in _author_note(vacuous)
    assert _author_level(None, 1e-3, 20)["author_epsilon"] is None and _author_note(_author_level(None, 1e-3, 20)) == ""


def test_sisa_and_dp_vary_with_the_run_seed(tiny, tmp_path):
    """Run seed 0 keeps the world seed (the same shards, training seeds and cached constituents as
    before the run seed reached the forms); another run seed deals other shards and trains with
    another seed, cached apart."""
    from harness import runs
    from harness.config import load_run_config
    from harness.forms import base_context
    from harness.io import stable_hash

    def setup(form, seed, *args):
        r = runs.resolve(load_run_config(None, [*tiny, f"method={form}", *args, f"seed={seed}",
                                                 f"results_dir={tmp_path}"]))
        ctx = base_context(r, False)
        return r, (r.form._setup(ctx) if form == "sisa" else r.form._plan(ctx))

    r, s0 = setup("sisa", 0, "method_args.shards=3")
    _, s1 = setup("sisa", 1, "method_args.shards=3")
    assert s0.seed == 0 and s0.plan == assign(10, 3, 1, 0)      # the world seed, as before
    rc = r.cfg
    before = stable_hash({"v": MD.TRAIN_FORMAT_VERSION, "base": s0.base, "plan": s0.plan, "lora": False,
                          "data": stable_hash([(e.prompt, e.answer) for e in s0.examples]),
                          "recipe": vars(rc.model.finetune), "seed": rc.world.seed})
    assert s0.root.name == f"sisa-{before}"                   # the constituents cached before are reused
    assert s1.seed != s0.seed and s1.plan != s0.plan and s1.root != s0.root
    _, d0 = setup("dp", 0, "method_args.epochs=1")
    _, d1 = setup("dp", 1, "method_args.epochs=1")
    assert d0.seed == 0 and d1.seed != 0 and d0.out != d1.out and d0.sigma == d1.sigma


def test_dp_without_noise_has_infinite_epsilon():
    from harness.forms.dp import noise_multiplier
    assert noise_multiplier(math.inf, 1e-3, 0.1, 100) == 0.0
    assert noise_multiplier(1.0, 1e-3, 0.1, 100) > noise_multiplier(8.0, 1e-3, 0.1, 100) > 0


@pytest.mark.parametrize("argv, expected", [
    (["method=sisa", "method_args.shards=11"], "shards=11 but the fine-tuning data has 10 authors"),
    (["method=sisa", "method_args.shards=0"], "config key 'method_args.shards': expected an integer >= 1"),
    (["method=sisa", "method_args.shards=5", "method_args.slices=3"], "shards x slices = 15"),
    (["method=dp", "method_args.epsilon=0"], "config key 'method_args.epsilon': expected a number (or .inf) > 0"),
    (["method=dp", "method_args.epsilon=-1"], "expected a number (or .inf) > 0"),
    (["method=incontext", "method_args.policy=forgetful"], "'method_args.policy': expected one of pretend, icul"),
    (["method=incontext", "method_args.policy=icul", "task=wmdp_synthetic"], "policy=icul needs question-answer"),
    (["method=sisa", "task=wmdp_synthetic"], "method 'sisa' does not apply to task family wmdp"),
    (["method=sisa", "adapter.kind=lora"], "adapter.kind=lora and model.evaluate do not apply"),
    (["method=sisaa"], "unknown method 'sisaa'; did you mean 'sisa'"),
])
def test_bad_form_input_is_one_line_before_training(capsys, tiny, tmp_path, argv, expected):
    models = Path(MD.cache_root(), "models")
    before = sorted(p.name for p in models.glob("*")) if models.is_dir() else []
    rc = main(["run", *tiny, *argv, f"results_dir={tmp_path}", "--quiet"])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and line.startswith("error: ") and expected in line, line
    assert not (tmp_path / "runs").exists()
    after = sorted(p.name for p in models.glob("*")) if models.is_dir() else []
    assert not [p for p in after if p not in before and p.startswith(("sisa-", "dp-"))]


def test_grid_forms_are_validated(tmp_path):
    from harness.grid import grid_runs
    g = tmp_path / "g.yaml"
    g.write_text("tasks: [tofu_forget10, tofu_forget01]\nmethods: []\nforms: {sisa: [[shards=2]], incontext: "
                 "[[policy=pretend], [policy=icul]]}\nform_tasks: {sisa: [tofu_forget01]}\n")
    runs = grid_runs(str(g), [])
    got = sorted((r.cfg.task, r.cfg.method, json.dumps(r.cfg.method_args, sort_keys=True)) for r in runs)
    assert got == sorted([("tofu_forget01", "sisa", '{"shards": 2}'),
                          *[(t, "incontext", json.dumps({"policy": p})) for t in ("tofu_forget10", "tofu_forget01")
                            for p in ("pretend", "icul")]])
    g.write_text("tasks: [tofu_forget10]\nmethods: []\nforms: {sisaa: [[shards=2]]}\n")
    with pytest.raises(ConfigError, match="did you mean 'sisa'"):
        grid_runs(str(g), [])
    g.write_text("tasks: [tofu_forget10]\nmethods: []\nforms: {sisa: [[shards=2]]}\n"
                 "form_tasks: {sisa: [tofu_forget05]}\n")
    with pytest.raises(ConfigError, match="form_tasks.sisa names tofu_forget05"):
        grid_runs(str(g), [])
    g.write_text("tasks: [tofu_forget10]\nmethods: []\nforms: {sisa: [shards=2]}\n")
    with pytest.raises(ConfigError, match="expected a list of settings"):
        grid_runs(str(g), [])


def test_opacus_per_example_gradients_are_exact_on_llama():
    """DP-SGD clips each example's gradient, so each must be that example's own: opacus's rules for
    Linear and the tied embedding, and its functorch fallback for Llama's RMSNorm, checked against a
    plain backward pass of one example."""
    from opacus import GradSampleModule
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=2, max_position_embeddings=32, tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    twin = LlamaForCausalLM(cfg)
    twin.load_state_dict(model.state_dict())
    ids = torch.randint(0, 100, (3, 8))
    gsm = GradSampleModule(model, batch_first=True, loss_reduction="mean")
    gsm(input_ids=ids).logits.logsumexp(-1).mean(-1).mean().backward()
    twin(input_ids=ids[1:2]).logits.logsumexp(-1).mean(-1).mean().backward()
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        assert torch.allclose(p.grad_sample[1], q.grad, atol=1e-6), name
    gsm._close()


def test_sisa_lora_constituents_share_one_base(tiny, tmp_path):
    """constituent=lora (the default for a real base model): each shard trains a LoRA adapter, and the
    aggregated model holds the base once with K adapters, saved and loaded back the same way."""
    from harness.ensemble import AdapterView
    folder = _run(tiny, tmp_path, "method=sisa", "method_args.shards=2", "method_args.constituent=lora")
    assert _read(folder, "form.json")["label"] == "sisa_k2_lora"
    for k in (0, 1):
        assert (folder / "model" / f"shard_{k}" / "adapter_config.json").is_file()
    model = MD.load_model(str(folder / "model"), device="cpu")
    assert all(isinstance(m, AdapterView) for m in model.members) and len(model.shared) == 1
    base = MD.load_model(str(local(_read(folder, "provenance.json")["models"]["base"])), device="cpu")
    n_base = sum(p.numel() for p in base.parameters())
    n = sum(p.numel() for p in model.parameters())
    assert n_base < n < 1.5 * n_base            # one base and two small adapters, not two bases
    ids = torch.tensor([[1, 5, 6, 7]])
    a, b = (m(input_ids=ids).logits for m in model.members)
    assert not torch.allclose(a, b)            # the views switch adapters
    adapter = sum(p.numel() for n, p in model.shared[0].named_parameters() if "lora_" in n) / 2
    assert _read(folder, "compute.json")["trainable_params"] == adapter  # one shard's adapter retrained
    assert _read(folder, "metrics.json")["forget_quality"] >= 0


def test_grid_workers_build_the_forms_models_ahead(tiny, tmp_path):
    """workers.prepare_ahead builds SISA's constituents and the DP target from the base alone, before
    the runs (a worker does this while the other trains targets and retain models)."""
    from harness import runs, workers
    from harness.config import load_run_config
    from harness.forms import base_context
    cfgs = [load_run_config(None, [*tiny, "method=sisa", "method_args.shards=2", f"results_dir={tmp_path}"]),
            load_run_config(None, [*tiny, "method=dp", "method_args.epochs=1", "method_args.batch_size=32",
                                   f"results_dir={tmp_path}"])]
    sisa, dp = (runs.resolve(c) for c in cfgs)
    assert workers.prepare_ahead([sisa, dp], progress=False) == 0
    st = sisa.form._setup(base_context(sisa, False))
    assert all((st.root / f"shard_{k}" / "stage_0" / MD.META).is_file() for k in range(2))
    built = [p for p in Path(MD.cache_root(), "models").glob("dp-*") if (p / MD.META).is_file()]
    assert dp.form._build(base_context(dp, False)) in built  # trained ahead: the run finds it in the cache


def test_sisa_on_the_document_track_shards_whole_documents(tiny, tmp_path):
    """MUSE-style data: every document is a unit; K = 1 retrains exactly the retain model; with K = 2
    no constituent of the result trained on a forget document."""
    from harness.io import stable_hash
    from harness.families.muse import data as musedata
    folder = _run(tiny, tmp_path / "k1", "task=muse_news_synthetic", "method=sisa", "method_args.shards=1")
    paths = {k: str(local(v)) for k, v in _read(folder, "provenance.json")["models"].items()}
    ours = MD.load_model(str(folder / "model" / "shard_0"), device="cpu").state_dict()
    retain = MD.load_model(paths["retain"], device="cpu").state_dict()
    assert all(torch.equal(ours[k], retain[k]) for k in retain)
    folder = _run(tiny, tmp_path / "k2", "task=muse_news_synthetic", "method=sisa", "method_args.shards=2")
    forget = {stable_hash(r["text"], 16) for r in musedata.load(paths["source"], "raw/forget")}
    shards = _read(folder / "model", "shards.json")
    assert forget and all(not forget & set(s["trained_on"]) for s in shards)
    assert _read(folder, "form.json")["retrained_shards"] and "knowmem_forget" in _read(folder, "metrics.json")


def test_attacks_take_the_sisa_ensemble_unchanged(tiny, tmp_path):
    """The aggregated model is an ordinary model to the attacks: quantised (every constituent's linear
    layers) and evaluated, with its control and target, like any run."""
    folder = _run(tiny, tmp_path, "method=sisa", "method_args.shards=2")
    assert main(["attack", str(folder), "quantize", "bits=[8]", "--quiet"]) == 0
    m = _read(folder / "attacks" / "quantize" / "8bit", "metrics.json")
    assert "forget_quality" in m and "forget_prob_net_change" in m
    assert m["forget_prob_change"] != 0  # the constituents' weights were quantised
