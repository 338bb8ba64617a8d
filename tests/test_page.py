"""The leaderboard page in a real browser: Debian's Chromium driven by Playwright (Playwright's own
browser download is not reachable here). Skipped, with the reason printed, where Chromium is missing;
.ci/run installs it, so CI always runs this."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from harness.cli import main
from helpers import ARGS, CHROMIUM, XSS_METHOD, XSS_METRIC, _browser, _results


def test_page_in_a_real_browser(tiny_grid, tmp_path, capsys):
    sync_playwright = _browser()
    res = _results(tiny_grid, tmp_path)
    assert main(["leaderboard", "--results", str(res)]) == 0
    assert "skipped broken run folder" in capsys.readouterr().err
    page_file = res / "leaderboard.html"
    raw = page_file.read_text()
    assert "<script>window.__xss" not in raw and "<img src=x" not in raw  # escaped in the JSON block
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_selector("table[data-task='tofu_forget10'] tbody tr")
        assert errors == []
        # injected names are text, not markup
        assert page.evaluate("window.__xss === undefined && window.__xss2 === undefined")
        assert [b.inner_text() for b in page.locator("button.rowlink").all()].count(XSS_METHOD) == 1
        assert page.locator("th", has_text=XSS_METRIC).count() == 1
        # the broken folder is reported on the page; the diverged run is a visible row with its status
        assert "1 run folder(s) could not be read" in page.inner_text("#broken")
        diverged = page.locator("tr.diverged")
        assert diverged.count() == 1 and diverged.locator(".badge").inner_text() == "diverged"
        # reference rows pinned on top; plots drawn
        table = page.locator("table[data-task='tofu_forget10']")
        first = table.locator("tbody tr").first
        assert "ref" in (first.get_attribute("class") or "") and first.locator("button.rowlink").inner_text() == "target"
        assert page.locator(".plots svg").count() >= 2
        # sort by model utility: descending, then ascending; reference rows stay first
        col = [th.get_attribute("data-key") for th in table.locator("thead th").all()].index("model_utility")

        def utilities():
            vals = []
            for tr in table.locator("tbody tr:not(.ref)").all():
                text = tr.locator("td").nth(col).inner_text().split("\u00b1")[0].strip()
                if text:
                    vals.append(float(text))
            return vals
        table.locator("th[data-key='model_utility']").click()
        down = utilities()
        assert down == sorted(down, reverse=True) and len(down) > 5
        table.locator("th[data-key='model_utility']").click()
        assert utilities() == sorted(down)
        assert "ref" in (table.locator("tbody tr").first.get_attribute("class") or "")

        def column(key):
            i = [th.get_attribute("data-key") for th in table.locator("thead th").all()].index(key)
            out = []
            for tr in table.locator("tbody tr:not(.ref)").all():
                text = tr.locator("td").nth(i).inner_text().split("\u00b1")[0].strip()
                if text:
                    out.append(float(text))
            return out
        # the first click sorts best first by the declared direction: forget ROUGE (lower is better)
        # ascending, privleak (best at 0) by its distance to 0
        table.locator("th[data-key='forget_rouge']").click()
        rouge = column("forget_rouge")
        assert rouge == sorted(rouge) and len(set(rouge)) > 1, rouge
        table.locator("th[data-key='privleak']").click()
        leak = column("privleak")
        assert [abs(x) for x in leak] == sorted(abs(x) for x in leak) and len(set(leak)) > 1, leak
        table.locator("th[data-key='model_utility']").click()
        # best value marked by the declared direction (model utility: highest)
        best = table.locator("td.best").all()
        assert best and any(abs(float(td.inner_text().split("\u00b1")[0]) - max(down)) < 1e-3 for td in best)
        # hidden columns behind the toggle
        extra = table.locator("th[data-key='retain_rouge']")
        assert not extra.is_visible()
        page.get_by_role("button", name="show all").first.click()
        assert extra.is_visible()
        # membership-inference AUCs: best = closest to the retain model's own AUC, not the highest
        keys = [th.get_attribute("data-key") for th in table.locator("thead th").all()]
        col = keys.index("mia_auc_loss")
        cells = {}
        for tr in table.locator("tbody tr").all():
            td = tr.locator("td").nth(col)
            text = td.inner_text().split("\u00b1")[0].strip()
            if text:
                cells[tr.locator("button.rowlink").inner_text()] = (float(text), "best" in (td.get_attribute("class") or ""))
        retain_auc = cells.pop("retain")[0]
        cells.pop("target")
        marked = {k for k, (_, b) in cells.items() if b}
        assert marked == {XSS_METHOD}, (marked, retain_auc, cells)  # not simnpo's higher AUC
        # a detail view per row
        page.get_by_role("button", name="npo+lora", exact=True).click()
        dialog = page.locator("dialog#detail")
        assert dialog.is_visible()
        text = dialog.inner_text()
        assert "compute record" in text and "provenance" in text and "learning rate" in text and "npo" in text
        assert errors == []
        browser.close()


def test_screenshot_script(tiny_grid, tmp_path):
    """scripts/screenshot.py renders a page to PNG with the same browser (used for the README)."""
    _browser()
    out, _, _ = tiny_grid
    png = tmp_path / "shot.png"
    subprocess.run([sys.executable, "scripts/screenshot.py", str(out / "results" / "leaderboard.html"), str(png)],
                   check=True, cwd=Path(__file__).resolve().parent.parent)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_every_family_has_its_section_and_table(tiny_grid, tiny, tmp_path):
    """TOFU runs and document-track (MUSE) runs in one results folder: one section per family, the
    family with the most rows first, the document track's own headline columns, no script error."""
    sync_playwright = _browser()
    out, _, _ = tiny_grid
    res = tmp_path / "results"
    shutil.copytree(out / "results" / "runs", res / "runs")
    for start in ("target", "retain"):
        assert main(["run", "task=muse_news_synthetic", "method=none", f"start={start}", *tiny,
                     f"results_dir={res}", "--quiet"]) == 0
    assert main(["leaderboard", "--results", str(res)]) == 0
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((res / "leaderboard.html").as_uri())
        page.wait_for_selector("table[data-task='muse_news_synthetic'] tbody tr")
        ids = [s.get_attribute("id") for s in page.locator("section[id^='family-']").all()]
        assert ids == ["family-tofu", "family-muse"]
        assert "Documents (MUSE-style)" in page.inner_text("#family-muse h2")
        table = page.locator("table[data-task='muse_news_synthetic']")
        heads = [th.get_attribute("data-key") for th in table.locator("thead th").all() if th.is_visible()]
        assert {"verbmem", "knowmem_forget", "knowmem_retain", "privleak"} <= set(heads)
        assert [tr.locator("td").first.inner_text() for tr in table.locator("tbody tr").all()] == ["target", "retain"]
        assert errors == []
        browser.close()


def test_other_forms_show_their_kind_note_and_sisa_plot(tiny_grid, tmp_path):
    """Rows of the other forms (harness/forms/, read from form.json): the form's label as the method,
    its kind as a badge, its caveat visible in the row (the in-context row's unchanged weights are said,
    not hidden), and the SISA plot against K."""
    sync_playwright = _browser()
    out, _, _ = tiny_grid
    res = tmp_path / "results"
    shutil.copytree(out / "results" / "runs", res / "runs")
    src = next(p for p in (res / "runs").iterdir() if "-npo-" in p.name)
    forms = {"sisa_k2": {"kind": "exact", "shards": 2, "retrained_shards": [1], "note": "exact: 1 of 2 shards retrained"},
             "sisa_k4": {"kind": "exact", "shards": 4, "retrained_shards": [3], "note": "exact: 1 of 4 shards retrained"},
             "icul": {"kind": "in-context", "extra_prompt_tokens": 61.5,
                      "note": "in-context: weights unchanged, so membership inference and privleak are the target's"},
             "dp_epsinf": {"kind": "dp-training", "epsilon": None, "note": "DP target, no unlearning: epsilon=inf"}}
    for i, (label, f) in enumerate(forms.items()):
        d = res / "runs" / f"tofu_forget10-{label}-s0-{i:010d}"
        shutil.copytree(src, d)
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        # a non-finite setting (epsilon=.inf) must not break the page's JSON
        cfg["method"], cfg["method_args"] = label.split("_")[0], {"n": i, "epsilon": float("inf")}
        (d / "config.yaml").write_text(yaml.safe_dump(cfg))
        (d / "form.json").write_text(json.dumps({"form": cfg["method"], "label": label, **f}))
    assert main(["leaderboard", "--results", str(res)]) == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto((res / "leaderboard.html").as_uri())
        table = page.locator("table[data-task='tofu_forget10']")
        table.locator("tbody tr").first.wait_for()
        row = table.locator("tbody tr", has=page.get_by_role("button", name="icul", exact=True))
        assert row.locator(".badge.form").inner_text() == "in-context"
        assert "weights unchanged" in row.locator(".note").inner_text() and row.locator(".note").is_visible()
        sisa = table.locator("tbody tr", has=page.get_by_role("button", name="sisa_k4", exact=True))
        assert sisa.locator(".badge.form").inner_text() == "exact"
        assert page.locator("svg", has_text="SISA, exact unlearning by shards").count() == 1
        page.get_by_role("button", name="dp_epsinf", exact=True).click()
        assert '"epsilon":"inf"' in page.locator("dialog#detail").inner_text().replace(" ", "")
        browser.close()
    # the docs' figure: the same plot as a PNG, from the same folders
    png = tmp_path / "sisa.png"
    done = subprocess.run([sys.executable, str(Path(__file__).parent.parent / "scripts" / "plot_sisa.py"), str(res),
                           "tofu_forget10", str(png)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_selected_view_of_a_sweep(tiny_sweep, tmp_path):
    """A sweep's results: the page's "Selected by sweep" section, one row per method with its setting,
    trials, the rule and the test metrics; no script error; the sweep's runs are not in the main tables."""
    sync_playwright = _browser()
    _, res0 = tiny_sweep
    res = tmp_path / "results"
    shutil.copytree(res0 / "runs", res / "runs")
    assert main(["leaderboard", "--results", str(res)]) == 0
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((res / "leaderboard.html").as_uri())
        table = page.locator("section#selected table.selected[data-sweep='t']")
        table.locator("tbody tr").first.wait_for()
        rows = [[td.inner_text() for td in tr.locator("td").all()] for tr in table.locator("tbody tr").all()]
        assert sorted(r[0].split("\n")[0].replace("infeasible", "") for r in rows) == ["graddiff", "npo"]
        assert all(r[1].startswith("unlearn.lr=") and r[2] == "2" for r in rows)
        heads = [th.inner_text() for th in table.locator("thead th").all()]
        assert {"validation forget_quality", "forget_quality", "model_utility", "tuning FLOPs"} <= set(heads)
        assert "maximise forget_quality subject to model_utility >= 0.9 x target" in page.inner_text("section#selected")
        assert page.locator("table[data-task]").count() == 0   # no main-table row comes from a sweep
        assert errors == []
        browser.close()


def test_the_trust_section_from_meta_eval_csv(tiny_grid, tmp_path):
    """<results>/meta_eval.csv (harness meta-eval) becomes the section "Which metrics can you trust?": the
    scatter and one table row per metric, the placebo's row marked; a metric name from the CSV is text,
    never markup."""
    sync_playwright = _browser()
    out, _, _ = tiny_grid
    res = tmp_path / "results"
    shutil.copytree(out / "results" / "runs", res / "runs")
    import csv
    with (res / "meta_eval.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["track", "task", "metric", "direction", "faithfulness", "faith_low", "faith_high",
                    "robust_relearn", "robust_quant", "robustness", "overall", "n_pos", "n_neg", "n_unlearned"])
        w.writerow(["tofu", "tofu_forget10", "forget_rouge", "lower", 0.9, 0.7, 1.0, 0.5, 1.0, 0.6667, 0.766, 6, 6, 3])
        w.writerow(["tofu", "tofu_forget10", "placebo", "lower", 0.5, 0.2, 0.8, "", "", "", "", 6, 6, ""])
        w.writerow(["tofu", "tofu_forget10", XSS_METRIC, "lower", 0.7, 0.5, 0.9, "", "", "", "", 6, 6, 0])
    assert main(["leaderboard", "--results", str(res)]) == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((res / "leaderboard.html").as_uri())
        sec = page.locator("section#trust")
        sec.locator("table.trust tbody tr").first.wait_for()
        assert sec.locator("h2").inner_text() == "Which metrics can you trust?"
        rows = sec.locator("table.trust tbody tr")
        assert rows.count() == 3
        assert rows.nth(0).locator("td").nth(1).inner_text() == "forget_rouge"
        assert rows.nth(0).locator("td").nth(2).inner_text() == "0.900"
        assert rows.nth(0).locator("td").nth(11).inner_text() == "3"
        assert sec.locator("tr.placebo").count() == 1
        assert sec.locator("svg").count() == 1 and "faithfulness" in sec.locator("svg").text_content()
        assert rows.nth(2).locator("td").nth(1).inner_text() == XSS_METRIC
        assert page.evaluate("window.__xss2") is None and not errors
        browser.close()
