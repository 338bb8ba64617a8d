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
