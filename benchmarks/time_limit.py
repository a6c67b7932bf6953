"""How well each preset keeps its time limit: wall time of `fit` against `time_limit`.

    python benchmarks/time_limit.py                      # fast, medium, best at 5, 10, 30, 60 s; 3 runs each
    python benchmarks/time_limit.py --presets fast --limits 5 --runs 1

Each fit runs in a fresh interpreter with an empty embedding cache (the worst case: torch, the
backbones and every embedding are paid inside the limit), with the default number of workers, on
imdb_genre_prediction. The wall time is measured around the `fit` call, which is what time_limit
promises. Appends one JSON line per fit to benchmarks/results/time_limit.jsonl (with the commit)
and prints a Markdown table of the largest ratio of the runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from automm.bench.runner import code_commit

RESULTS = Path(__file__).parent / "results"
ONE_FIT = """
import json, sys, time
from automm import MultimodalPredictor, datasets
ds = datasets.load(sys.argv[1], download=False)
p = MultimodalPredictor(ds.spec["label"], eval_metric=ds.spec["metric"], verbosity=0)
t0 = time.monotonic()
p.fit(ds.train, presets=sys.argv[2], time_limit=float(sys.argv[3]))
wall = time.monotonic() - t0
print(json.dumps({"wall_s": round(wall, 2), "models": [b.name for b in p.models_],
                  "val_score": p.val_score_, "test_score": p.evaluate(ds.test)["score"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="imdb_genre_prediction")
    ap.add_argument("--presets", default="fast,medium,best")
    ap.add_argument("--limits", default="5,10,30,60")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    rows, sha = [], code_commit()
    for preset in a.presets.split(","):
        for limit in [float(x) for x in a.limits.split(",")]:
            for run in range(a.runs):
                with tempfile.TemporaryDirectory() as cache:
                    env = {**os.environ, "AUTOMM_EMBEDDING_CACHE": cache}
                    out = subprocess.run([sys.executable, "-c", ONE_FIT, a.dataset, preset, str(limit)], env=env,
                                         capture_output=True, text=True, timeout=limit * 5 + 120)
                if out.returncode != 0:
                    raise SystemExit(f"{preset} at {limit}s failed:\n{out.stderr[-2000:]}")
                row = {"commit": sha, "dataset": a.dataset, "preset": preset, "time_limit": limit, "run": run,
                       "cores": os.cpu_count(), "machine": platform.machine(), **json.loads(out.stdout.splitlines()[-1])}
                row["ratio"] = round(row["wall_s"] / limit, 3)
                print(json.dumps(row), flush=True)
                with open(RESULTS / "time_limit.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
                rows.append(row)
    table = summary(rows, a.presets.split(","), a.dataset, a.runs, sha)
    print("\n" + table)
    (RESULTS / "time_limit.md").write_text(f"# time_limit kept\n\n`python benchmarks/time_limit.py {' '.join(sys.argv[1:])}`"
                                           f" (raw records: time_limit.jsonl)\n\n{table}\n")


def summary(rows: list[dict], presets: list[str], dataset: str, runs: int, sha: str) -> str:
    limits = sorted({r["time_limit"] for r in rows})
    lines = [f"Wall time of fit / time_limit on {dataset}, largest of {runs} runs, each in a fresh interpreter "
             f"with an empty embedding cache (commit {sha}):", "",
             "| preset | " + " | ".join(f"{x:g} s" for x in limits) + " |", "|---|" + "---|" * len(limits)]
    for preset in presets:
        cells = [max(r["ratio"] for r in rows if r["preset"] == preset and r["time_limit"] == x) for x in limits]
        lines.append(f"| {preset} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
