"""The harness is an installed package: it imports from any folder, with no sys.path edits."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_imports_from_outside_the_repository(tmp_path):
    code = "import harness, methods, harness.cli; print(harness.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-500:] + "\n(run `make setup`: it installs the package with pip install -e .)"
    assert Path(out.stdout.strip()).resolve().is_relative_to(REPO)


def test_no_path_edits_in_tests_or_scripts():
    offenders = [str(p.relative_to(REPO)) for d in ("tests", "scripts", "harness", "methods")
                 for p in (REPO / d).rglob("*.py") if "sys.path.insert" in p.read_text() and p.name != "test_package.py"]
    assert offenders == []
