"""A trees-only model loaded and served by the core install, torch absent: import time, load time,
predict time and peak memory, in a fresh virtual environment made with `pip install <this repo>`
(numpy, pandas, scipy, scikit-learn, LightGBM; no extras), next to the same steps in the full one.

    python benchmarks/torch_free.py --dataset imdb_genre_prediction --time-limit 120

The model: `medium` with the core's models only, LightGBM and the linear model, on the table, the
n-grams and the static text tier's embeddings (which need no torch at predict). One JSON
record per run is appended to benchmarks/results/torch_free.jsonl, naming the commit.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEASURE = """
import json, sys, time, importlib.util
def peak_mb():
    # VmHWM: this process's own high-water mark. getrusage's ru_maxrss would not do: Linux carries the
    # parent's peak over fork and exec, so a child of a large parent reports the parent's.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
t0 = time.perf_counter()
from automm import MultimodalPredictor
import pandas as pd
t1 = time.perf_counter()
p = MultimodalPredictor.load(sys.argv[1])
t2 = time.perf_counter()
rows = pd.read_csv(sys.argv[2])
t3 = time.perf_counter()
pred = p.predict(rows)
t4 = time.perf_counter()
print(json.dumps({"import_s": round(t1 - t0, 2), "load_s": round(t2 - t1, 2), "predict_s": round(t4 - t3, 2),
                  "rows": len(rows), "peak_rss_mb": peak_mb(),
                  "torch_installed": importlib.util.find_spec("torch") is not None,
                  "torch_imported": "torch" in sys.modules, "predictions": pred.astype(str).tolist()}))
"""


def measure(python: str, model: Path, rows: Path) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([python, "-c", MEASURE, str(model), str(rows)], capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir())
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record["process_s"] = round(time.perf_counter() - t0, 2)
    return record


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="imdb_genre_prediction")
    ap.add_argument("--time-limit", type=float, default=120)
    ap.add_argument("--venv", default="/tmp/automm-core-venv")
    a = ap.parse_args()
    from automm import MultimodalPredictor, datasets
    ds = datasets.load(a.dataset, download=False)
    work = Path(tempfile.mkdtemp(prefix="automm-torch-free-"))
    label = ds.spec["label"]
    p = MultimodalPredictor(label=label, verbosity=0).fit(ds.train, presets="medium", time_limit=a.time_limit,
                                                          hyperparameters={"linear": {}, "lightgbm": {}})
    p.save(work / "model")
    rows = work / "rows.csv"
    ds.test.drop(columns=[label]).head(100).to_csv(rows, index=False)
    venv = Path(a.venv)
    t0 = time.perf_counter()
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)], check=True)
    install_s = time.perf_counter() - t0
    core = measure(str(venv / "bin" / "python"), work / "model", rows)
    full = measure(sys.executable, work / "model", rows)
    assert core.pop("predictions") == full.pop("predictions")  # the same model, the same answers
    record = {"commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip(),
              "dataset": a.dataset, "models_in_blend": [n for n, w in p.weights_.items() if w > 0],
              "text_tier": p.pipeline_.emb_.text_tier_ if p.pipeline_.emb_ else None,
              "core_install_s": round(install_s, 1), "core_venv_mb": round(sum(
                  f.stat().st_size for f in venv.rglob("*") if f.is_file()) / 1e6),
              "core": core, "full": full, "same_predictions": True}
    print(json.dumps(record))
    with open(HERE / "results" / "torch_free.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
