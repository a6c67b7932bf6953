"""The code keeps its lint settings (pyproject.toml [tool.ruff]): what a reviewer would otherwise check by hand."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "automm", "tests", "benchmarks"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def _structure():
    """benchmarks/structure.py, the counter whose figures the structure issue quotes."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import structure
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return structure


def test_the_package_has_no_import_circles_and_no_module_over_400_lines():
    shape = _structure().measure(ROOT)
    assert shape["import_circles"] == [], shape["imports_inside_circles"]
    assert shape["modules_over_400_lines"] == {}


def test_the_circle_finder_finds_a_circle_through_a_function_level_import(tmp_path):
    structure = _structure()
    (tmp_path / "automm").mkdir()
    (tmp_path / "automm" / "__init__.py").write_text("")
    (tmp_path / "automm" / "a.py").write_text("from .b import x\n")
    (tmp_path / "automm" / "b.py").write_text("def x():\n    from .a import y\n")
    (tmp_path / "README.md").write_text("one\n")
    assert structure.measure(tmp_path)["import_circles"] == [["automm.a", "automm.b"]]


def test_the_readme_is_a_front_door_and_every_link_of_the_docs_resolves():
    import re
    readme = (ROOT / "README.md").read_text()
    assert readme.count("\n") <= 200
    assert readme.count("```") % 2 == 0  # no fence left open, hiding what follows
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
