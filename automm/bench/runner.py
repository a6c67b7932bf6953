"""systems x datasets x seeds x time budgets, each run in its own capped subprocess.

Results go to a JSON-lines file, one line per run, and each run's folder to runs/ beside it: its
log, its test predictions (for the paired bootstrap) and its leaderboard (validation scores and fit
times), small text files meant to be committed. Each line says what produced it: the automm commit,
the versions, the machine and its load, the cache state, the wall-clock cap, and for a finished
run how many layer-1 model kinds it trained of those its preset has. A rerun skips runs already
there; a crash, time-out or memory overrun is recorded as such and the rest go on. Every system's
predictions are scored here, by the same code.

    automm benchmark --suite --datasets available --report benchmarks/results

runs the published comparison (SUITE), resumably; with `--datasets all --download` it is every
dataset of datasets.yaml, fetched from its original URLs where no local mirror has it.
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
from ..presets import PRESETS
from .records import score

REPO = Path(__file__).resolve().parents[2]
AG_PYTHON = Path(os.environ.get("AUTOMM_AG_PYTHON", REPO / "benchmarks" / ".venv-autogluon" / "bin" / "python"))
# system name -> (worker, preset[, options]); AutoGluon runs from its own virtual environment
SYSTEMS = {
    "automm-fast": ("automm", "fast"), "automm-medium": ("automm", "medium"), "automm-best": ("automm", "best"),
    # the ablation: the best preset without the fusion nets and without text/image embeddings
    "automm-best-noneural": ("automm", "best-noneural"),
    "automm-best-tuned": ("automm", "best_tuned"),  # best plus the Optuna search, at the same time limit
    # best with the token net (the static token vectors fine-tuned on the label), which best left out at
    # f95ddfa (the records of automm-best-notokens, best without it then, are in tokens-f95ddfa.jsonl)
    "automm-best-tokens": ("automm", "best", {"hyperparameters": {
        m: {} for m in [*PRESETS["best"]["models"], "fusion_tokens"]}}),
    # one LightGBM on the numeric and categorical columns and TF-IDF of the text: the plain yardstick
    "lgbm-tfidf-baseline": ("baseline", ""),
    "autogluon-medium": ("autogluon", "medium_quality"), "autogluon-best": ("autogluon", "best_quality"),
    # what an AutoGluon user would try when medium's random forests overrun on wide n-gram data
    "autogluon-medium-norfxt": ("autogluon", "medium_quality", {"excluded_model_types": ["RF", "XT"]}),
}
QUICK = {"systems": ["automm-fast", "lgbm-tfidf-baseline"], "datasets": ["imdb_genre_prediction"], "time_limits": [15],
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


def provenance() -> dict:
    """What produced a record: the automm commit (with -dirty), the versions, the machine and its load,
    and whether the static text table was already distilled (an empty cache adds that to the first fit)."""
    from importlib import metadata

    from ..features.static_text import static_dir

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0) \
        if os.path.exists("/proc/meminfo") else 0
    return {"commit": code_commit(), "python": sys.version.split()[0],
            "versions": {d: version(d) for d in ("automm", "numpy", "pandas", "scikit-learn", "lightgbm", "xgboost-cpu",
                                                 "catboost", "torch", "transformers")},
            "cores": os.cpu_count(), "memory_gb": round(mem / 2**20, 1), "load_at_start": round(os.getloadavg()[0], 2),
            "static_text_cache": "warm" if any(static_dir().glob("*.npz")) else "cold",
            "embedding_cache": "cold (a fresh folder per run)"}


def layer1_expected(system: str, meta: dict) -> int | None:
    """How many layer-1 model kinds the system's preset trains when it has the time: automm's preset
    models that could run on this data (the worker says which), AutoGluon's model families."""
    worker, preset, *options = SYSTEMS.get(system, ("", ""))
    if worker == "automm":
        return meta.get("layer1_planned")
    if worker == "autogluon":
        excluded = set((options[0] if options else {}).get("excluded_model_types", []))
        return len([f for f in AG_FAMILIES if f not in excluded])
    return None


# the model families of AutoGluon's default portfolio (medium_quality's and, as zeroshot configs, best_quality's):
# its hyperparameters keys, and how the names of their models begin
AG_FAMILIES = {"GBM": "LightGBM", "CAT": "CatBoost", "XGB": "XGBoost", "NN_TORCH": "NeuralNetTorch",
               "FASTAI": "NeuralNetFastAI", "RF": "RandomForest", "XT": "ExtraTrees", "KNN": "KNeighbors"}


def ag_layer1_families(models) -> list[str]:
    """The AutoGluon families that have a layer-1 model among `models` (leaderboard names, bagged or not)."""
    layer1 = [m for m in models if not m.startswith("WeightedEnsemble") and not m.endswith(("_L2", "_L3", "_L4"))]
    return sorted({f for m in layer1 for f, prefix in AG_FAMILIES.items() if m.startswith(prefix)})


def _worker_command(worker: str, image_dir: Path, args: list[str], options: list) -> list[str]:
    """The process that fits one system: AutoGluon's worker in its own environment, or automm's."""
    if worker == "autogluon":
        cmd = [str(AG_PYTHON), str(Path(__file__).with_name("ag_worker.py"))] + args
    else:
        cmd = [sys.executable, "-m", "automm.bench.worker", "--system", worker, "--image-dir", str(image_dir)] + args
    return cmd + (["--options", json.dumps(options[0])] if options else [])


def run_one(system: str, name: str, seed: int, time_limit: float, data_dir, memory_gb: float,
            max_train_rows: int = 0, max_test_rows: int = 0,
            wall_factor: float = 1.5, ag_wall_factor: float | None = None, runs_dir: Path | None = None,
            download: bool = False) -> dict:
    """wall_factor: the run is killed after time_limit * wall_factor + 180 s (fit, predict, start-up);
    ag_wall_factor: AutoGluon's instead, if given (it treats its time limit as a soft target). runs_dir:
    where the run's folder goes (its log, test predictions and leaderboard: small text files)."""
    record = {"system": system, "dataset": name, "seed": seed, "time_limit": time_limit}
    try:
        ds = datasets.load(name, data_dir=data_dir, download=download)
    except (FileNotFoundError, OSError) as exc:
        return {**record, "status": "unavailable", "error": str(exc)[:300]}
    spec = ds.spec
    worker, preset, *options = SYSTEMS[system]
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
        if worker == "autogluon" and not AG_PYTHON.exists():
            return {**record, "status": "unavailable",
                    "error": f"no AutoGluon environment at {AG_PYTHON}: run benchmarks/setup_autogluon.sh"}
        cmd = _worker_command(worker, ds.folder, args, options)
        wall_factor = (ag_wall_factor or wall_factor) if worker == "autogluon" else wall_factor
        run_name = f"{system}.{name}.s{seed}.{int(time_limit)}"
        folder = (runs_dir / run_name) if runs_dir else None
        log = folder / "log.txt" if folder else tmp / f"{run_name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cap = time_limit * wall_factor + 180
        record.update(provenance())
        status, wall, peak = run_capped(cmd, cap, int(memory_gb * 2**30), log)
        record.update(status=status, wall_s=round(wall, 1), wall_cap_s=round(cap), peak_rss_mb=round(peak / 2**20, 1),
                      metric=spec["metric"], test_rows=len(test))
        if folder:
            record["run_dir"] = f"runs/{run_name}"
            _trim(log)
        if status != "ok":
            record["error"] = log.read_text(errors="replace")[-600:] if log.exists() else ""
            return record
        meta = json.loads((tmp / "meta.json").read_text())
        pred = pd.read_csv(tmp / "predictions.csv")
        record.update(score=score(pred, test, spec, spec["problem_type"]),
                      fit_s=round(meta["fit_s"], 1), predict_rows_per_s=round(len(test) / max(meta["predict_s"], 1e-9), 1),
                      n_models=len(meta.get("models", [])), versions={**record["versions"], **meta.get("versions", {})})
        record.update({k: meta[k] for k in ("val_score", "ended", "anytime_trained", "predict_rows_per_s_10k")
                       if k in meta})
        trained, expected = meta.get("layer1_trained"), layer1_expected(system, meta)
        if worker == "autogluon" and (tmp / "leaderboard.csv").exists():  # from its leaderboard, here
            meta["layer1_families"] = ag_layer1_families(pd.read_csv(tmp / "leaderboard.csv").model)
            trained = len(meta["layer1_families"])
        if expected is not None and trained is not None:
            record.update(layer1_trained=trained, layer1_expected=expected, starved=trained < expected,
                          **({"layer1_families": meta["layer1_families"]} if "layer1_families" in meta else {}))
        if folder:
            pred.round(6).to_csv(folder / "predictions.csv", index=False)  # for the paired bootstrap over test rows
            if (tmp / "leaderboard.csv").exists():
                (folder / "leaderboard.csv").write_text((tmp / "leaderboard.csv").read_text())
        return record


def _trim(log: Path, keep: int = 200_000) -> None:
    """A committed log keeps its first and last 100 kB (a long fit's progress lines are many)."""
    text = log.read_text(errors="replace")
    if len(text) > keep:
        log.write_text(text[: keep // 2] + f"\n[... {len(text) - keep} characters left out ...]\n" + text[-keep // 2:])


def run(systems, names, seeds, time_limits, results: Path, data_dir=None, memory_gb: float = 20,
        max_train_rows: int = 0, max_test_rows: int = 0, echo=print,
        retry_failed: bool = False, wall_factor: float = 1.5, ag_wall_factor: float | None = None,
        download: bool = False) -> list[dict]:
    """Budget, then seed, then dataset, then system: a sitting that stops early has covered every
    dataset at the first seed. Each run's folder goes to runs/ beside `results`. A retried run's new
    line comes after the failed one; the report keeps the last line per run."""
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown systems {unknown}; choose from {sorted(SYSTEMS)}")
    done, out = finished(results, retry_failed), []
    results.parent.mkdir(parents=True, exist_ok=True)
    for tl in time_limits:
        for seed in seeds:
            for name in names:
                for system in systems:
                    key = (system, name, seed, float(tl))
                    if key in done:
                        echo(f"skip {key}: already in {results}")
                        continue
                    echo(f"run {system} on {name}, seed {seed}, {tl}s ...")
                    r = run_one(system, name, seed, float(tl), data_dir, memory_gb, max_train_rows, max_test_rows,
                                wall_factor, ag_wall_factor, results.parent / "runs", download)
                    echo(f"  {r['status']}" + (f": {r['metric']} {r['score']:.4f}, fit {r['fit_s']}s, "
                                               f"peak {r['peak_rss_mb']} MB" if r["status"] == "ok" else ""))
                    with open(results, "a") as f:
                        f.write(json.dumps(r) + "\n")
                    out.append(r)
    return out


# the published comparison, in the order it runs (resumable: each block skips what is done)
SUITE = [
    (["automm-best", "autogluon-best", "lgbm-tfidf-baseline", "autogluon-medium-norfxt"], [0], [300]),
    (["automm-best", "autogluon-best", "lgbm-tfidf-baseline"], [1, 2], [300]),
    (["automm-best", "autogluon-best"], [0], [600]),
    (["autogluon-medium"], [0], [300]),
]
SUITE_AG_WALL_FACTOR = 3.0  # AutoGluon's runs are killed at 3x their time limit + 180 s, not 1.5x


def default_results() -> Path:
    """The clone's benchmarks/results when run from one; else (an installed wheel) a folder here."""
    in_clone = REPO / "benchmarks" / "results"
    return in_clone / "results.jsonl" if in_clone.is_dir() else Path.cwd() / "automm-benchmark" / "results.jsonl"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="automm benchmark", description=__doc__)
    ap.add_argument("--systems", default="automm-best,autogluon-medium,autogluon-best,lgbm-tfidf-baseline")
    ap.add_argument("--datasets", default="available", help="comma-separated names, 'available' or 'all'")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--time-limits", default="300")
    ap.add_argument("--results", default=str(default_results()), help="the JSON-lines file the records go to")
    ap.add_argument("--data-dir", default=None, help="local mirror folder (default: $AUTOMM_DATA_DIR, ../shared/datasets)")
    ap.add_argument("--memory-gb", type=float, default=20)
    ap.add_argument("--quick", action="store_true", help="tiny subsamples and a short budget, AutoGluon excluded")
    ap.add_argument("--report", default=None, help="write the report to this folder after the runs")
    ap.add_argument("--retry-failed", action="store_true", help="run again what crashed or timed out")
    ap.add_argument("--wall-factor", type=float, default=1.5,
                    help="kill a run after time_limit * this + 180 s")
    ap.add_argument("--autogluon-wall-factor", type=float, default=None,
                    help="AutoGluon's wall factor instead, if given: it treats its time_limit as a soft target "
                         f"(the suite uses {SUITE_AG_WALL_FACTOR}); each record keeps its cap as wall_cap_s")
    ap.add_argument("--download", action="store_true",
                    help="fetch a dataset no local mirror has from its original URLs (checksums verified)")
    ap.add_argument("--suite", action="store_true",
                    help="the published comparison (SUITE: seeds 0-2 at 300 s, seed 0 at 600 s, the fair AutoGluon "
                         "variants) on --datasets; resumable")
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
    blocks = SUITE if a.suite else [(systems, seeds, limits)]
    for block_systems, block_seeds, block_limits in blocks:
        run(block_systems, names, block_seeds, block_limits, Path(a.results), a.data_dir, a.memory_gb, max_train,
            max_test, retry_failed=a.retry_failed, wall_factor=a.wall_factor,
            ag_wall_factor=a.autogluon_wall_factor or (SUITE_AG_WALL_FACTOR if a.suite else None),
            download=a.download)
    if a.report:
        from .report import write_report
        print(f"report: {write_report(Path(a.results), Path(a.report))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
