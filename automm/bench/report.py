"""Markdown table and PNG plots from a results file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def markdown(df: pd.DataFrame, index: bool = True) -> str:
    """A pipe table (pandas' to_markdown needs the tabulate package)."""
    d = df.reset_index() if index else df
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    rows = [[str(c) for c in d.columns]] + [[cell(v) for v in r] for r in d.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
                     + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def load_results(results: Path) -> pd.DataFrame:
    """One row per run: where a failed run was retried, the last line counts."""
    rows = [json.loads(line) for line in Path(results).read_text().splitlines() if line.strip()]
    df = pd.DataFrame(rows)
    return df.drop_duplicates(["system", "dataset", "seed", "time_limit"], keep="last").reset_index(drop=True)


def summarize(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-dataset scores, per-system summary) over the successful runs, seeds averaged."""
    ok = df[df.status == "ok"]
    scores = ok.pivot_table(index=["dataset", "time_limit"], columns="system", values="score", aggfunc="mean")
    # every metric here is greater-is-better (accuracy, roc_auc, r2); rank 1 is best
    ranks = scores.rank(axis=1, ascending=False)
    lo, hi = scores.min(axis=1), scores.max(axis=1)
    normalised = scores.sub(lo, axis=0).div((hi - lo).replace(0, np.nan), axis=0)
    summary = pd.DataFrame({
        "mean rank": ranks.mean(), "mean normalised score": normalised.mean(),
        "fit s (mean)": ok.groupby("system").fit_s.mean(),
        "predict rows/s (median)": ok.groupby("system").predict_rows_per_s.median(),
        "peak MB (max)": ok.groupby("system").peak_rss_mb.max(),
        "runs ok": ok.groupby("system").size(),
        "runs failed": df[~df.status.isin(["ok", "unavailable"])].groupby("system").size(),
    }).fillna({"runs failed": 0}).sort_values("mean rank")
    summary.index.name = "system"
    return scores, summary


def write_report(results: Path, out_dir: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    df = load_results(results)
    scores, summary = summarize(df)
    metrics = df[df.status == "ok"].groupby("dataset").metric.first()
    table = scores.copy()
    table.index = pd.Index([f"{d} ({metrics.get(d, '?')}, {int(t)}s)" for d, t in table.index],
                           name="dataset (metric, budget)")
    lines = ["# Benchmark results", "", f"From `{Path(results).name}`: {len(df)} runs, "
             f"{int((df.status == 'ok').sum())} ok. Scores are on the test split (greater is better).", "",
             "## Score per dataset", "", markdown(table.round(4)), "",
             "## Per system", "", markdown(summary.round(3)), ""]
    failed = df[~df.status.isin(["ok"])]
    if len(failed):
        lines += ["## Not scored", "", markdown(failed[["system", "dataset", "seed", "time_limit", "status"]],
                                                 index=False), ""]
    lines += ["![score per dataset](scores.png)", "", "![score against time budget](budget.png)", ""]
    (out_dir / "results.md").write_text("\n".join(lines))

    ax = table.plot.bar(figsize=(9, 4.5), rot=15)
    _finish(plt, ax, "test score", "Score per dataset and system", out_dir / "scores.png")

    _, ax = plt.subplots(figsize=(6, 4))
    for system, g in df[df.status == "ok"].groupby("system"):
        by_budget = g.groupby("time_limit").score.mean()
        ax.plot(by_budget.index, by_budget.values, marker="o", label=system)
    ax.set_xlabel("time limit (s)")
    _finish(plt, ax, "mean test score over datasets", "Score against time budget", out_dir / "budget.png")
    return out_dir / "results.md"


def _finish(plt, ax, ylabel: str, title: str, path: Path):
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close()


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="benchmarks/report.py")
    ap.add_argument("results")
    ap.add_argument("--out", default="benchmarks/results")
    a = ap.parse_args(argv)
    print(write_report(Path(a.results), Path(a.out)))
    return 0
