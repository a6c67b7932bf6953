"""systems x datasets x seeds x time budgets, each run in its own capped subprocess.

Results go to a JSON-lines file, one line per run; a rerun skips runs already there; a crash,
time-out or memory overrun is recorded as such and the rest go on. Every system's predictions
are scored here, by the same code.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from .. import datasets
from ..metrics import get_metric

REPO = Path(__file__).resolve().parents[2]
AG_PYTHON = Path(os.environ.get("AUTOMM_AG_PYTHON", REPO / "benchmarks" / ".venv-autogluon" / "bin" / "python"))
# system name -> (worker, preset); AutoGluon runs from its own virtual environment
SYSTEMS = {
    "automm-fast": ("automm", "fast"), "automm-medium": ("automm", "medium"), "automm-best": ("automm", "best"),
    # the ablation: the best preset without the fusion nets and without text/image embeddings
    "automm-best-noneural": ("automm", "best-noneural"),
    "automm-best-tuned": ("automm", "best_tuned"),  # best plus the Optuna search, at the same time limit
    "baseline": ("baseline", ""),
    "autogluon-medium": ("autogluon", "medium_quality"), "autogluon-best": ("autogluon", "best_quality"),
}
QUICK = {"systems": ["automm-fast", "baseline"], "datasets": ["imdb_genre_prediction"], "time_limits": [15],
         "max_train_rows": 300, "max_test_rows": 100}


def run_key(r: dict) -> tuple:
    return (r["system"], r["dataset"], r["seed"], float(r["time_limit"]))


def finished(results: Path, retry_failed: bool = False) -> set[tuple]:
    """Runs already in the results file (only the successful ones when retrying failures)."""
    if not results.is_file():
        return set()
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return {run_key(r) for r in rows if not retry_failed or r["status"] in ("ok", "unavailable")}


def tree_rss(pid: int, proportional: bool = False) -> int:
    """Resident memory of a process and all its children, in bytes (Linux /proc). proportional: their
    PSS instead, in which a page that k of them share (a library, the features that the fit and its
    workers map) counts once in all, rather than k times."""
    from ..memory import rss
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            if proportional:
                total += int(rss(p))
            else:
                with open(f"/proc/{p}/statm") as f:
                    total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                stack += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def run_capped(cmd: list[str], wall_s: float, memory_bytes: int, log: Path) -> tuple[str, float, int]:
    """(status, seconds, peak bytes); status is ok, crash, timeout or memory."""
    t0, peak = time.monotonic(), 0
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        status = None
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            if time.monotonic() - t0 > wall_s:
                status = "timeout"
            elif peak > memory_bytes:
                status = "memory"
            if status:
                os.killpg(proc.pid, 9)
                proc.wait()
                break
            time.sleep(0.5)
    return status or ("ok" if proc.returncode == 0 else "crash"), time.monotonic() - t0, peak


def code_commit() -> str:
    """The short commit of the automm being run (the checkout it is imported from), "-dirty" when its
    automm/ has uncommitted changes: what every benchmark record names."""
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()
    return git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain", "automm") else "")


def run_sampled(cmd: list[str], env: dict, log: Path) -> tuple[int, str, int, int]:
    """(return code, standard output, peak resident bytes of the process tree, its peak PSS), sampled
    every 0.5 s; standard error goes to `log`."""
    peak, peak_pss, done = 0, 0, threading.Event()
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)

        def sample():
            nonlocal peak, peak_pss
            while not done.wait(0.5):
                peak = max(peak, tree_rss(proc.pid))
                peak_pss = max(peak_pss, tree_rss(proc.pid, proportional=True))
        threading.Thread(target=sample, daemon=True).start()
        stdout, _ = proc.communicate()
        done.set()
    return proc.returncode, stdout, peak, peak_pss


def score(pred: pd.DataFrame, test: pd.DataFrame, spec: dict, problem_type: str) -> float:
    metric = get_metric(spec["metric"], problem_type)
    y = test[spec["label"]]
    if problem_type == "regression":
        return metric.score(y.to_numpy(dtype=float), pred.iloc[:, 0].to_numpy(dtype=float).reshape(-1, 1))
    classes = list(pred.columns)
    lookup = {str(c): i for i, c in enumerate(classes)}
    codes = y.astype(str).map(lookup)
    if codes.isna().any():
        raise ValueError(f"test labels {sorted(set(y.astype(str)) - set(lookup))[:3]} have no prediction column")
    return metric.score(codes.to_numpy(dtype=int), pred.to_numpy(dtype=float))


def run_one(system: str, name: str, seed: int, time_limit: float, data_dir, memory_gb: float,
            max_train_rows: int = 0, max_test_rows: int = 0, log_dir: Path | None = None,
            wall_factor: float = 1.5) -> dict:
    """wall_factor: the run is killed after time_limit * wall_factor + 180 s (fit, predict, start-up)."""
    record = {"system": system, "dataset": name, "seed": seed, "time_limit": time_limit}
    try:
        ds = datasets.load(name, data_dir=data_dir, download=False)
    except FileNotFoundError as exc:
        return {**record, "status": "unavailable", "error": str(exc)[:300]}
    spec = ds.spec
    worker, preset = SYSTEMS[system]
    with tempfile.TemporaryDirectory(prefix="automm-bench-") as tmp:
        tmp = Path(tmp)
        test = ds.test if not max_test_rows else ds.test.sample(min(max_test_rows, len(ds.test)), random_state=seed)
        test = test.reset_index(drop=True)
        # image paths are relative to the dataset folder, so the tables are written there-relative
        train_csv, test_csv = tmp / "train.csv", tmp / "test.csv"
        ds.train.to_csv(train_csv, index=False)
        test.to_csv(test_csv, index=False)
        args = ["--train", str(train_csv), "--test", str(test_csv), "--label", spec["label"], "--metric",
                spec["metric"], "--problem-type", spec["problem_type"], "--out", str(tmp), "--preset", preset,
                "--time-limit", str(time_limit), "--seed", str(seed), "--max-train-rows", str(max_train_rows)]
        if worker == "autogluon":
            if not AG_PYTHON.exists():
                return {**record, "status": "unavailable",
                        "error": f"no AutoGluon environment at {AG_PYTHON}: run benchmarks/setup_autogluon.sh"}
            cmd = [str(AG_PYTHON), str(Path(__file__).with_name("ag_worker.py"))] + args
        else:
            cmd = [sys.executable, "-m", "automm.bench.worker", "--system", worker, "--image-dir", str(ds.folder)] + args
        log = (log_dir or tmp) / f"{system}.{name}.{seed}.{int(time_limit)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cap = time_limit * wall_factor + 180
        status, wall, peak = run_capped(cmd, cap, int(memory_gb * 2**30), log)
        record.update(status=status, wall_s=round(wall, 1), wall_cap_s=round(cap), peak_rss_mb=round(peak / 2**20, 1))
        if status != "ok":
            record["error"] = log.read_text()[-600:] if log.exists() else ""
            return record
        meta = json.loads((tmp / "meta.json").read_text())
        pred = pd.read_csv(tmp / "predictions.csv")
        record.update(score=score(pred, test, spec, spec["problem_type"]), metric=spec["metric"],
                      fit_s=round(meta["fit_s"], 1), predict_rows_per_s=round(len(test) / max(meta["predict_s"], 1e-9), 1),
                      n_models=len(meta.get("models", [])))
        if "leaderboard" in meta:  # each model's test score, scored by the predictor after the timed predict
            record["leaderboard"] = meta["leaderboard"]
        return record


def run(systems, names, seeds, time_limits, results: Path, data_dir=None, memory_gb: float = 20,
        max_train_rows: int = 0, max_test_rows: int = 0, log_dir: Path | None = None, echo=print,
        retry_failed: bool = False, wall_factor: float = 1.5) -> list[dict]:
    """A retried run's new line comes after the failed one; the report keeps the last line per run."""
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown systems {unknown}; choose from {sorted(SYSTEMS)}")
    done, out = finished(results, retry_failed), []
    results.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        for tl in time_limits:
            for seed in seeds:
                for system in systems:
                    key = (system, name, seed, float(tl))
                    if key in done:
                        echo(f"skip {key}: already in {results}")
                        continue
                    echo(f"run {system} on {name}, seed {seed}, {tl}s ...")
                    r = run_one(system, name, seed, float(tl), data_dir, memory_gb, max_train_rows, max_test_rows,
                                log_dir, wall_factor)
                    echo(f"  {r['status']}" + (f": {r['metric']} {r['score']:.4f}, fit {r['fit_s']}s, "
                                               f"peak {r['peak_rss_mb']} MB" if r["status"] == "ok" else ""))
                    with open(results, "a") as f:
                        f.write(json.dumps(r) + "\n")
                    out.append(r)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="automm benchmark", description=__doc__)
    ap.add_argument("--systems", default="automm-best,autogluon-medium,autogluon-best,baseline")
    ap.add_argument("--datasets", default="available", help="comma-separated names, 'available' or 'all'")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--time-limits", default="300")
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "results.jsonl"))
    ap.add_argument("--data-dir", default=None, help="local mirror folder (default: $AUTOMM_DATA_DIR, ../shared/datasets)")
    ap.add_argument("--memory-gb", type=float, default=20)
    ap.add_argument("--logs", default=None, help="folder for each run's log")
    ap.add_argument("--quick", action="store_true", help="tiny subsamples and a short budget, AutoGluon excluded")
    ap.add_argument("--report", default=None, help="write the report to this folder after the runs")
    ap.add_argument("--retry-failed", action="store_true", help="run again what crashed or timed out")
    ap.add_argument("--wall-factor", type=float, default=1.5,
                    help="kill a run after time_limit * this + 180 s (AutoGluon can overrun its time_limit)")
    a = ap.parse_args(argv)
    systems, max_train, max_test = a.systems.split(","), 0, 0
    names = a.datasets.split(",")
    seeds, limits = [int(s) for s in a.seeds.split(",")], [float(t) for t in a.time_limits.split(",")]
    if a.quick:
        systems, names, limits = QUICK["systems"], QUICK["datasets"], QUICK["time_limits"]
        max_train, max_test = QUICK["max_train_rows"], QUICK["max_test_rows"]
    if names in (["all"], ["available"]):
        specs = {s["name"]: s for s in datasets.registry().values()}
        names = sorted(specs)
        if a.datasets == "available":
            names = [n for n in names if any((d / n).is_dir() for d in datasets.mirror_dirs(a.data_dir))]
    run(systems, names, seeds, limits, Path(a.results), a.data_dir, a.memory_gb, max_train, max_test,
        Path(a.logs) if a.logs else None, retry_failed=a.retry_failed, wall_factor=a.wall_factor)
    if a.report:
        from .report import write_report
        print(f"report: {write_report(Path(a.results), Path(a.report))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
