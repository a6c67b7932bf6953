"""What a user gets from an installed wheel, not from the clone: the datasets' registry ships inside
the package, and the neural extra does not cap torch (a cap below the installed CPU build would make
pip replace it with a CUDA one)."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # pip builds a wheel, and a fresh interpreter reads it


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(out)], check=True, capture_output=True, timeout=300)
    return next(out.glob("automm-*.whl"))


def test_the_wheel_carries_the_datasets_registry_and_reads_it_outside_the_clone(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        assert "automm/datasets.yaml" in z.namelist()
        z.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import automm.datasets as d; r = d.registry(); "
            "print(d.REGISTRY.parent.parent == __import__('pathlib').Path(r'%s'), len(r) > 10, "
            "'imdb_genre_prediction' in r)" % site)
    run = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env={"PYTHONPATH": str(site), "PATH": ""},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True", "True"]
    code = "from automm.bench.runner import default_results, main; print(default_results()); main(['--help'])"
    bench = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env={"PYTHONPATH": str(site), "PATH": ""},
                           capture_output=True, text=True, timeout=120)
    assert "usage: automm benchmark" in bench.stdout, bench.stderr
    # the records go beside the user, not into site-packages
    assert bench.stdout.splitlines()[0] == str(elsewhere / "automm-benchmark" / "results.jsonl")


def test_the_neural_extra_leaves_torch_uncapped(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith("dist-info/METADATA"))).decode()
    torch = [line for line in meta.splitlines() if line.startswith("Requires-Dist: torch")]
    assert torch and all("<" not in line for line in torch), torch
