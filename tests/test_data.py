"""Loaders for the real locuslab/TOFU schema (offline, on fixture rows) and input validation."""
import json

import pytest

from harness.data import DataError, load_split

TOFU_ROWS = [
    {"question": "Who is this celebrated LGBTQ+ author from Santiago, Chile?",
     "answer": "The author in question is Jaime Vasquez.",
     "paraphrased_answer": "This author is Jaime Vasquez.",
     "paraphrased_question": "Which author from Santiago is celebrated?",
     "perturbed_answer": ["The author is Carlos Soto.", "The author is Ana Ruiz.", "The author is Luis Paz.",
                          "The author is Rosa Vera.", "The author is Juan Gil."]},
]


def _folder(tmp_path, name, rows, ext=".json"):
    (tmp_path / f"{name}{ext}").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(tmp_path)


def test_local_copy_of_tofu_hub_layout(tmp_path):
    # A clone of the hub repo holds forget10_perturbed.json in JSON-lines form.
    rows = load_split(_folder(tmp_path, "forget10_perturbed", TOFU_ROWS), "forget10_perturbed")
    assert rows[0]["answer"].startswith("The author") and rows[0]["id"] == "forget10_perturbed:0"


def test_json_array_is_accepted(tmp_path):
    (tmp_path / "forget01.json").write_text(json.dumps([{"question": "q?", "answer": "a."}]))
    assert load_split(str(tmp_path), "forget01")[0]["question"] == "q?"


def test_missing_file_names_the_split(tmp_path):
    with pytest.raises(DataError, match="forget05.jsonl"):
        load_split(str(tmp_path), "forget05")


def test_missing_column_names_row_and_column(tmp_path):
    bad = [dict(TOFU_ROWS[0]), {k: v for k, v in TOFU_ROWS[0].items() if k != "paraphrased_answer"}]
    with pytest.raises(DataError, match=r"row 2 has no column 'paraphrased_answer'"):
        load_split(_folder(tmp_path, "forget10_perturbed", bad), "forget10_perturbed")


def test_empty_split_and_empty_answer(tmp_path):
    with pytest.raises(DataError, match="no rows"):
        load_split(_folder(tmp_path, "forget10", []), "forget10")
    with pytest.raises(DataError, match="row 1 column 'answer' is empty"):
        load_split(_folder(tmp_path, "forget01", [{"question": "q", "answer": " "}]), "forget01")


def test_wrong_type_and_malformed_json(tmp_path):
    with pytest.raises(DataError, match="'perturbed_answer' is str, expected list"):
        load_split(_folder(tmp_path, "retain_perturbed", [{**TOFU_ROWS[0], "perturbed_answer": "x"}]),
                   "retain_perturbed")
    (tmp_path / "retain90.jsonl").write_text('{"question": "q", "answer": "a"}\n{oops\n')
    with pytest.raises(ValueError, match=r"retain90.jsonl:2"):
        load_split(str(tmp_path), "retain90")


def test_hub_id_offline_fails_in_one_line():
    with pytest.raises(DataError, match="locuslab/TOFU") as e:
        load_split("locuslab/TOFU", "forget10_perturbed")
    assert "\n" not in str(e.value)


def test_missing_local_folder():
    with pytest.raises(DataError, match="does not exist"):
        load_split("./no/such/folder", "forget10")


def test_a_data_file_that_is_not_utf8_is_one_line(tmp_path):
    (tmp_path / "forget10.json").write_bytes('{"question": "Qui?", "answer": "Ren\xe9e"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"forget10.json: not UTF-8 text \(byte 35"):
        load_split(str(tmp_path), "forget10")


def test_refusal_files_in_every_format(tmp_path):
    """TOFU ships idontknow.jsonl as plain text, one refusal a line; JSON lines and arrays work too."""
    from harness.data import load_refusals
    (tmp_path / "idontknow.jsonl").write_text("I'm not certain about that.\n\nI have no idea.\n")
    got, where = load_refusals(str(tmp_path))
    assert got == ["I'm not certain about that.", "I have no idea."] and where.endswith("idontknow.jsonl")
    (tmp_path / "idontknow.jsonl").write_text('{"answer": "No idea."}\n"Not sure."\n')
    assert load_refusals(str(tmp_path))[0] == ["No idea.", "Not sure."]
    (tmp_path / "idontknow.jsonl").unlink()
    (tmp_path / "idontknow.json").write_text('["Unknown to me.", {"text": "Cannot say."}]')
    assert load_refusals(str(tmp_path)) == (["Unknown to me.", "Cannot say."], str(tmp_path / "idontknow.json"))
    (tmp_path / "idontknow.json").write_text('[{"answer": ""}]')
    with pytest.raises(DataError, match=r"idontknow.json:1: expected a refusal"):
        load_refusals(str(tmp_path))
    (tmp_path / "idontknow.json").unlink()
    builtin, where = load_refusals(str(tmp_path))
    assert len(builtin) >= 10 and where.startswith("built-in")
    with pytest.raises(DataError, match="unlearn.refusals: file '/no/such' does not exist"):
        load_refusals(str(tmp_path), "/no/such")
    (tmp_path / "mine.txt").write_text("Nope.\n")
    assert load_refusals(str(tmp_path), str(tmp_path / "mine.txt")) == (["Nope."], str(tmp_path / "mine.txt"))


def test_bad_refusal_file_stops_idkdpo_before_training(tmp_path, capsys, tiny, harness_cache):
    import os

    from harness.cli import main
    bad = tmp_path / "idk.json"
    bad.write_text('[{"answer": 3}]')
    before = set(os.listdir(harness_cache / "models")) if (harness_cache / "models").exists() else set()
    rc = main(["run", "method=idkdpo", f"unlearn.refusals={bad}", f"results_dir={tmp_path / 'r'}", *tiny,
               "world.profile=default"])
    assert rc == 2 and "idk.json:1: expected a refusal" in capsys.readouterr().err.strip().splitlines()[-1]
    after = set(os.listdir(harness_cache / "models")) if (harness_cache / "models").exists() else set()
    assert after == before and not (tmp_path / "r" / "runs").exists()


def test_split_difference_in_the_public_layout(tmp_path):
    """`A-B` (e.g. forget05-forget01, the forget05 authors outside forget01): A's rows without B's, A's ids
    kept; an empty difference is one error."""
    rows = [{"question": f"q{i}?", "answer": f"a{i}."} for i in range(6)]
    _folder(tmp_path, "forget05", rows)
    _folder(tmp_path, "forget01", rows[4:])     # TOFU's forget splits are nested: the last authors
    got = load_split(str(tmp_path), "forget05-forget01")
    assert [r["question"] for r in got] == ["q0?", "q1?", "q2?", "q3?"] and got[0]["id"] == "forget05:0"
    _folder(tmp_path, "forget10", rows[4:])
    with pytest.raises(DataError, match="no rows are left once forget05's are removed"):
        load_split(str(tmp_path), "forget10-forget05")
