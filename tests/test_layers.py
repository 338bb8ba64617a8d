"""The code follows the layer map in docs/architecture.md: every module is placed in a layer, no import
(counting those inside functions) goes to a layer below its own, and no chain of imports is a cycle."""
import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    out = {}
    for top in ("harness", "methods"):
        for p in (REPO / top).rglob("*.py"):
            name = ".".join(p.relative_to(REPO).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = p
    return out


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file (top level or inside functions)."""
    edges = {}
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    found.add(t)
        edges[name] = found
    return edges


def _layers() -> list[list[str]]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("<!-- layers:start -->")[1].split("<!-- layers:end -->")[0]
    rows = [ln for ln in table.strip().splitlines()[2:] if ln.startswith("|")]
    return [re.findall(r"`([\w.]+)`", row.split("|")[2]) for row in rows]


def _layer_of(module: str, layers) -> int | None:
    best = None
    for i, names in enumerate(layers):
        for n in names:
            covers = module == n or (module.startswith(n + ".") and n != "harness")  # the package itself only
            if covers and (best is None or len(n) > best[1]):
                best = (i, len(n))
    return best[0] if best else None


def test_every_module_is_placed_and_imports_only_its_layer_or_above():
    mods = _modules()
    layers = _layers()
    assert len(layers) >= 6
    unplaced = sorted(m for m in mods if _layer_of(m, layers) is None)
    assert unplaced == [], f"modules missing from docs/architecture.md: {unplaced}"
    upward = sorted(f"{m} -> {o}" for m, outs in _imports(mods).items() for o in outs
                    if o != "harness" and _layer_of(o, layers) > _layer_of(m, layers))
    assert upward == [], f"imports from a lower layer: {upward}"


def test_no_import_cycles():
    edges = _imports(_modules())
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m, path):  # depth-first; 1 = on the current path, 2 = done
        state[m] = 1
        for o in sorted(edges[m]):
            if o == "harness":  # the package's own __init__ (it imports nothing of the project)
                continue
            if state.get(o) == 1:
                cycle.extend(path[path.index(o):] + [o] if o in path else [m, o])
                return True
            if o not in state and visit(o, path + [o]):
                return True
        state[m] = 2
        return False

    for m in sorted(edges):
        if m not in state and visit(m, [m]):
            break
    assert cycle == [], " -> ".join(cycle)
    assert not edges["harness"], "harness/__init__.py imports project modules"


def test_the_check_sees_an_import_inside_a_function(tmp_path, monkeypatch):
    """The graph counts imports hidden in functions (what held the old cycles open)."""
    mods = {"harness.a": tmp_path / "a.py", "harness.b": tmp_path / "b.py"}
    mods["harness.a"].write_text("def f():\n    from harness.b import g\n")
    mods["harness.b"].write_text("from harness import a\n")
    edges = _imports(mods)
    assert edges["harness.a"] == {"harness.b"} and edges["harness.b"] == {"harness.a"}


def test_outside_the_families_no_code_names_a_family():
    """Attacks, forms, runs, the leaderboard and the page ask a track for what they need
    (harness/families/ CAPABILITIES); only a family's own package, and the one default for task files
    that predate families (harness/tasks.py DEFAULT_FAMILY), name a family, and a family's package
    names no other family."""
    from harness.families import load_tracks
    names = sorted(load_tracks())
    found = []
    for name, path in _modules().items():
        if name == "harness.tasks":
            continue
        text = path.read_text(encoding="utf-8")
        found += [f"{name}: {fam!r}" for fam in names if (f'"{fam}"' in text or f"'{fam}'" in text)
                  and not name.startswith(f"harness.families.{fam}")]
    assert found == []


def test_a_family_package_is_imported_only_from_inside_it():
    """A family owns its vertical: no module outside harness/families/<name>/ imports one of its
    modules (the harness reaches it through its registered track), so a family can be removed by
    deleting its folder and its task files."""
    from harness.families import load_tracks
    families = sorted(load_tracks())
    assert {"tofu", "muse", "wmdp"} <= set(families)
    edges = _imports(_modules())
    reach = sorted(f"{m} -> {o}" for m, outs in edges.items() for o in outs for fam in families
                   if o.startswith(f"harness.families.{fam}") and not m.startswith(f"harness.families.{fam}"))
    assert reach == []
