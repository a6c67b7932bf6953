"""Fit wall time, peak memory of the whole process tree, predict speed and score against the number of
rows: automm.synthetic.make_multimodal regression tables (numbers, a category, a review, a title, a
zip code, an ID, a constant).

    python benchmarks/scaling.py --rows 10000 100000 1000000 --time-limit 600 --presets medium
    python benchmarks/scaling.py --rows 1000000 --time-limit 600 --ray     # on a local Ray instance

Each size runs in its own process with an empty embedding cache; its resident memory, and that of
every worker it starts, is summed every 0.5 s, both as resident memory (RSS: a page shared by k
processes counts k times) and as PSS (it counts once: the measure of what the tree takes from the
machine, now that the fit and its workers map one copy of the features). The test set is 10,000 other rows. A run the kernel
kills, or that fails, is recorded as such with its last log lines. Raw records:
benchmarks/results/scaling.jsonl; the plot: benchmarks/results/scaling.png.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from automm.bench.runner import code_commit, run_sampled

RESULTS = Path(__file__).resolve().parent / "results"

ONE_FIT = r"""
import json, sys, time
from automm import MultimodalPredictor
from automm.synthetic import make_multimodal

n, presets, limit, extra = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
data = make_multimodal(n + 10_000, "regression", seed=0)
train, test = data.iloc[:n].reset_index(drop=True), data.iloc[n:].reset_index(drop=True)
del data
t0 = time.monotonic()
p = MultimodalPredictor("y", eval_metric="r2", verbosity=2).fit(train, presets=presets, time_limit=limit, **extra)
fit_s = time.monotonic() - t0
X = test.drop(columns=["y"])
t0 = time.monotonic()
p.predict(X)
predict_s = time.monotonic() - t0
print(json.dumps({"fit_s": round(fit_s, 1), "predict_rows_per_s": round(len(X) / predict_s, 1),
                  "r2": round(p.evaluate(test)["score"], 4),
                  "models": [m.name for m in p.models_]}))
"""


def run_one(rows: int, presets: str, limit: float, extra: dict) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "AUTOMM_EMBEDDING_CACHE": cache, "PYTHONUNBUFFERED": "1"}
        log = Path(cache) / "log.txt"
        cmd = [sys.executable, "-c", ONE_FIT, str(rows), presets, str(limit), json.dumps(extra)]
        code, stdout, peak, pss = run_sampled(cmd, env, log)
        lines = log.read_text().splitlines()
    out = {"peak_tree_mb": round(peak / 2**20), "peak_tree_pss_mb": round(pss / 2**20), "returncode": code,
           "plan": [ln.strip() for ln in lines if any(w in ln for w in ("plan", "memory", "large data", "features:"))]}
    if code != 0:
        return {**out, "status": "killed" if code < 0 else "failed", "log_tail": lines[-15:]}
    return {**out, "status": "ok", **json.loads(stdout.splitlines()[-1])}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: r["rows"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot([r["rows"] for r in rows], [r["peak_tree_mb"] / 1024 for r in rows], "o-", label="RSS summed")
    pss = [r for r in rows if "peak_tree_pss_mb" in r]
    a.plot([r["rows"] for r in pss], [r["peak_tree_pss_mb"] / 1024 for r in pss], "s-", label="PSS summed")
    a.axhline(8e9 / 2**30, color="grey", ls="--", label="8 GB target")
    a.set(xscale="log", xlabel="training rows", ylabel="peak memory, process tree (GiB)")
    a.legend()
    b.plot([r["rows"] for r in ok], [r["fit_s"] / r["time_limit"] for r in ok], "o-", label="fit wall / time_limit")
    for r in ok:
        b.annotate(f"{r['time_limit']:g} s", (r["rows"], r["fit_s"] / r["time_limit"]), textcoords="offset points",
                   xytext=(0, -12), ha="center", fontsize=8)
    b.axhline(1.0, color="grey", ls="--", label="time_limit")
    b.set(xscale="log", xlabel="training rows", ylabel="fit wall / time_limit", ylim=(0, 1.2))
    b.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--time-limit", type=float, default=600)
    ap.add_argument("--presets", default="medium")
    ap.add_argument("--label", default="")
    ap.add_argument("--ray", action="store_true", help="fit on a local Ray instance (ray_address='local')")
    a = ap.parse_args()
    extra = {"ray_address": "local"} if a.ray else {}
    RESULTS.mkdir(exist_ok=True)
    sha = code_commit()
    for n in a.rows:
        row = {"commit": sha, "label": a.label, "rows": n, "presets": a.presets, "time_limit": a.time_limit,
               "backend": "ray" if a.ray else "processes",
               "cores": os.cpu_count(), "machine": platform.machine(), "load_at_start": round(os.getloadavg()[0], 2),
               **run_one(n, a.presets, a.time_limit, extra)}
        print(json.dumps(row), flush=True)
        with open(RESULTS / "scaling.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    plot_commit(sha)


def plot_commit(sha: str) -> None:
    """The plot of every record of commit `sha` (sizes run by several commands), the latest of each."""
    records = [json.loads(line) for line in (RESULTS / "scaling.jsonl").read_text().splitlines() if line.strip()]
    latest = {(r["rows"], r.get("backend", "processes")): r for r in records if r["commit"] == sha}
    plot([r for (_, backend), r in sorted(latest.items()) if backend == "processes"], RESULTS / "scaling.png")


if __name__ == "__main__":
    main()
