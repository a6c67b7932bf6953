"""The benchmark report from a results file: results.md and its plots.

Nothing is dropped: a run that timed out, crashed or ran out of memory is shown as such in the score
table and counts as the worst score of its dataset and budget in the ranking; a finished run that
trained fewer layer-1 model kinds than its preset has is flagged as starved (†), with its
leaderboard and log a link away. Scores are means over seeds with their standard deviation;
each budget is summarised on its own, normalised scores only over the datasets that every system run
at that budget finished. The difference between automm and AutoGluon on each dataset comes with a
paired bootstrap over the test rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .records import RENAMED

FAILED = ("timeout", "crash", "memory")
OVERRUN = 1.25  # a finished fit that took longer than this times its time limit is marked (it had more time)
PAIR = ("automm-best", "autogluon-best")  # the paired bootstrap's systems


def markdown(df: pd.DataFrame, index: bool = True) -> str:
    """A pipe table (pandas' to_markdown needs the tabulate package)."""
    d = df.reset_index() if index else df
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    rows = [[str(c) for c in d.columns]] + [[cell(v) for v in r] for r in d.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
                     + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def load_results(results: Path) -> pd.DataFrame:
    """One row per run: where a failed run was retried, the last line counts; older names are renamed."""
    rows = [json.loads(line) for line in Path(results).read_text().splitlines() if line.strip()]
    df = pd.DataFrame(rows)
    df["system"] = df.system.replace(RENAMED)
    for col, default in (("starved", False), ("run_dir", None), ("commit", None)):
        if col not in df:
            df[col] = default
    df["starved"] = df.starved.fillna(False).astype(bool)
    return df.drop_duplicates(["system", "dataset", "seed", "time_limit"], keep="last").reset_index(drop=True)


def ranked_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Each run's score for ranking: its own, or for a failed run the worst score any run had on its
    dataset and budget (a failure is never better than a finished run, and never left out)."""
    runs = df[df.status.isin(("ok",) + FAILED)].copy()
    worst = runs[runs.status == "ok"].groupby(["dataset", "time_limit"]).score.min()
    failed = runs.status != "ok"
    runs.loc[failed, "score"] = [worst.get((d, t), np.nan) for d, t in zip(runs.dataset[failed],
                                                                             runs.time_limit[failed])]
    return runs


def summarize(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(seed-mean scores for ranking per dataset and budget, per-system summary per budget). Every
    metric here is greater-is-better (accuracy, roc_auc, r2); rank 1 is best. Each budget is summarised
    on its own: a system run at more budgets would otherwise average over cells the others never had."""
    runs = ranked_scores(df)
    scores = runs.pivot_table(index=["dataset", "time_limit"], columns="system", values="score", aggfunc="mean")
    parts = []
    for t, at_t in df.groupby("time_limit"):
        cells = scores.xs(t, level="time_limit", drop_level=False).dropna(axis=1, how="all")
        complete = _complete_cells(at_t, cells)
        norm = cells.loc[complete]
        lo, hi = norm.min(axis=1), norm.max(axis=1)
        normalised = norm.sub(lo, axis=0).div((hi - lo).replace(0, np.nan), axis=0)
        ok = at_t[at_t.status == "ok"]
        part = pd.DataFrame({
            "mean rank": cells.rank(axis=1, ascending=False).mean(), "mean normalised score": normalised.mean(),
            "fit s (mean)": ok.groupby("system").fit_s.mean(),
            "predict rows/s (median)": ok.groupby("system").predict_rows_per_s.median(),
            "peak MB (max)": ok.groupby("system").peak_rss_mb.max(),
            "runs ok": ok.groupby("system").size(),
            "runs failed": at_t[at_t.status.isin(FAILED)].groupby("system").size(),
            "runs starved": ok[ok.starved].groupby("system").size(),
            "runs overran": ok[ok.fit_s > OVERRUN * ok.time_limit].groupby("system").size(),
        }).fillna({"runs ok": 0, "runs failed": 0, "runs starved": 0, "runs overran": 0})
        part = part[part.index.isin(cells.columns)].sort_values("mean rank")
        part.insert(0, "budget s", int(t))
        part.insert(3, "datasets normalised", len(complete))
        parts.append(part)
    summary = pd.concat(parts)
    summary.index.name = "system"
    return scores, summary.set_index("budget s", append=True)


def _complete_cells(df: pd.DataFrame, scores: pd.DataFrame) -> list:
    """The (dataset, budget) cells in which every system that ran at that budget finished every run."""
    out = []
    for (d, t), _ in scores.iterrows():
        at_budget = set(df[df.time_limit == t].system)
        cell = df[(df.dataset == d) & (df.time_limit == t)]
        if set(cell.system) == at_budget and (cell.status == "ok").all():
            out.append((d, t))
    return out


def score_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean ± standard deviation over seeds (n seeds); failures named; † a starved run, linked."""
    def cell(g: pd.DataFrame) -> str:
        ok = g[g.status == "ok"]
        parts = []
        if len(ok):
            sd = f" ± {ok.score.std():.4f}" if len(ok) > 1 else ""
            parts.append(f"{ok.score.mean():.4f}{sd} ({len(ok)})")
        for status, n in g[g.status.isin(FAILED)].status.value_counts().items():
            parts.append(f"{status}{f' x{n}' if n > 1 else ''}")
        for r in ok[ok.starved].itertuples():
            link = f"[†]({r.run_dir}/leaderboard.csv)" if isinstance(r.run_dir, str) else "†"
            parts.append(f"{link} s{r.seed}: {int(r.layer1_trained)} of {int(r.layer1_expected)} model kinds")
        for r in ok[ok.fit_s > OVERRUN * g.name[1]].itertuples():  # g.name: (dataset, time limit, system)
            parts.append(f"⏱ s{r.seed}: fit {r.fit_s:.0f} s")
        return "; ".join(parts) or "-"
    metric = df.groupby("dataset").metric.first()
    cells = df[df.status.isin(("ok",) + FAILED)].groupby(["dataset", "time_limit", "system"]).apply(cell,
                                                                                                  include_groups=False)
    table = cells.unstack("system").fillna("-")
    table.index = pd.Index([f"{d} ({metric.get(d, '?')}, {int(t)} s)" for d, t in table.index],
                           name="dataset (metric, budget)")
    return table


def paired_bootstrap(df: pd.DataFrame, data_dir=None, runs_root: Path | None = None, pair=PAIR,
                     resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """automm minus AutoGluon per dataset and budget, over the seeds both finished: the difference of
    the test scores, its 95% interval from resampling the test rows (the same rows for both systems,
    each seed's pair scored on them), and how often automm came out ahead."""
    from .. import datasets
    from ..metrics import get_metric
    from .records import prediction_arrays
    rows = []
    ok = df[(df.status == "ok") & df.run_dir.notna()]
    for (d, t), cell in ok.groupby(["dataset", "time_limit"]):
        a, b = (cell[cell.system == s].set_index("seed") for s in pair)
        seeds = sorted(set(a.index) & set(b.index))
        if not seeds or runs_root is None:
            continue
        try:
            ds = datasets.load(d, data_dir=data_dir, download=False)
        except FileNotFoundError:
            continue
        spec = ds.spec
        metric = get_metric(spec["metric"], spec["problem_type"])
        test = ds.test.reset_index(drop=True)
        pairs = []
        for s in seeds:
            files = [runs_root / x.loc[s, "run_dir"] / "predictions.csv" for x in (a, b)]
            if all(f.exists() for f in files):
                pairs.append([prediction_arrays(pd.read_csv(f), test, spec) for f in files])
        if not pairs or any(len(p[0][0]) != len(test) for p in pairs):
            continue
        rng = np.random.default_rng(seed)
        n = len(test)
        full = _difference(metric, pairs, np.arange(n))
        boot = np.array([_difference(metric, pairs, rng.integers(0, n, n)) for _ in range(resamples)])
        rows.append({"dataset": d, "budget s": int(t), "seeds": len(pairs), "test rows": n,
                     f"{pair[0]} - {pair[1]}": round(full, 4), "95% interval": f"[{np.quantile(boot, 0.025):+.4f}, "
                     f"{np.quantile(boot, 0.975):+.4f}]", f"{pair[0]} ahead": f"{(boot > 0).mean():.0%}"})
    return pd.DataFrame(rows)


def _difference(metric, pairs, idx) -> float:
    """The first system's score minus the second's on rows `idx`, averaged over the seeds' pairs."""
    return float(np.mean([metric.score(ya[idx], pa[idx]) - metric.score(yb[idx], pb[idx])
                          for (ya, pa), (yb, pb) in pairs]))


def provenance_lines(df: pd.DataFrame) -> list[str]:
    ok = df[df.status.isin(("ok",) + FAILED)]
    commits = sorted({c for c in ok.commit.dropna()}) if "commit" in ok else []
    lines = [f"- automm commits measured: {', '.join(commits) or 'not recorded (runs older than the provenance fields)'}"]
    if "versions" in ok:
        ag = {v.get("autogluon") for v in ok.versions.dropna() if isinstance(v, dict) and v.get("autogluon")}
        if ag:
            lines.append(f"- AutoGluon {', '.join(sorted(ag))} (TabularPredictor, in its own virtual environment)")
    if "wall_cap_s" in ok:
        caps = ok.groupby("system").wall_cap_s.agg(lambda c: ", ".join(str(int(x)) for x in sorted(set(c.dropna()))))
        lines.append("- wall-clock caps (s), per system: " + "; ".join(f"{s} {c}" for s, c in caps.items() if c))
    if "cores" in ok:
        lines.append(f"- machine: {', '.join(sorted({f'{int(c)} cores' for c in ok.cores.dropna()}))}, "
                     f"load average at the start of a run {ok.load_at_start.min():.2f}-{ok.load_at_start.max():.2f}")
    return lines


def write_report(results: Path, out_dir: Path, data_dir=None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    df = load_results(results)
    _, summary = summarize(df)
    boot = paired_bootstrap(df, data_dir, Path(results).parent)
    lines = ["# Benchmark results", "", f"From `{Path(results).name}`: {len(df)} runs, "
             f"{int((df.status == 'ok').sum())} finished. Test scores, greater is better; each run's log, test "
             "predictions and leaderboard are in `runs/`. Regenerate with `python benchmarks/report.py`.", "",
             *provenance_lines(df), "",
             "## Score per dataset", "",
             "Mean ± standard deviation over seeds (number of seeds). A failed run is named; † marks a finished "
             "run that trained fewer layer-1 model kinds than its preset has (starved), linked to its leaderboard; "
             f"⏱ a fit that took more than {OVERRUN} times its time limit (its score had that extra time).",
             "", markdown(score_table(df)), "",
             "## Per system", "",
             "Each budget on its own. Ranks per dataset, a failed run counting as the worst score there; "
             "normalised scores (0 = worst, 1 = best system) only over the datasets on which every system run at "
             "that budget finished every run.", "",
             markdown(summary.round(3)), ""]
    if len(boot):
        lines += ["## automm against AutoGluon, paired over test rows", "",
                  "The difference of the seed-mean test scores, and a 95% interval from 2,000 resamples of the test "
                  "rows (the same rows for both systems).", "", markdown(boot, index=False), ""]
    missing = df[df.status == "unavailable"]
    if len(missing):
        lines += ["## Not run", "", markdown(missing[["system", "dataset", "seed", "time_limit", "error"]]
                                             .assign(error=missing.error.str[:80]), index=False), ""]
    lines += ["![score against budget](budget.png)", "", "![predict speed against score](speed.png)", "",
              "![peak memory](memory.png)", ""]
    (out_dir / "results.md").write_text("\n".join(lines))
    plots(df, out_dir)
    return out_dir / "results.md"


def plots(df: pd.DataFrame, out_dir: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ok = df[df.status == "ok"]
    names = sorted(df.dataset.unique())
    color = {s: f"C{i}" for i, s in enumerate(sorted(df.system.unique()))}  # one colour per system in every plot
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.6), squeeze=False)
    for ax, d in zip(axes[0], names):
        for system, g in ok[ok.dataset == d].groupby("system"):
            by = g.groupby("time_limit").score
            ax.errorbar(by.mean().index, by.mean().values, yerr=by.std().fillna(0).values, marker="o", capsize=3,
                        label=system, color=color[system])
        bottom = ax.get_ylim()[0]
        for r in df[(df.dataset == d) & df.status.isin(FAILED)].itertuples():  # a failure at the axis' floor
            ax.scatter([r.time_limit], [bottom], marker="x", s=40, color=color[r.system], clip_on=False, zorder=3)
            ax.annotate(f"{r.system}: {r.status}", (r.time_limit, bottom), xytext=(-4, 6),
                        textcoords="offset points", fontsize=7, rotation=90, ha="right", va="bottom")
        ax.set_title(d, fontsize=9)
        ax.set_xlabel("time limit (s)")
    axes[0][0].set_ylabel("test score (mean ± sd over seeds)")
    _legend(fig, color)
    _save(plt, fig, out_dir / "budget.png")

    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.6), squeeze=False)
    for ax, d in zip(axes[0], names):
        for system, g in ok[ok.dataset == d].groupby("system"):
            ax.scatter(g.predict_rows_per_s, g.score, label=system, s=18, color=color[system])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(d, fontsize=9)
        ax.set_xlabel("predict rows/s (test set, one call)")
    axes[0][0].set_ylabel("test score")
    _legend(fig, color)
    _save(plt, fig, out_dir / "speed.png")

    fig, ax = plt.subplots(figsize=(7, 3.6))
    systems = sorted(ok.system.unique())
    ax.boxplot([ok[ok.system == s].peak_rss_mb / 1024 for s in systems])
    ax.set_xticks(range(1, len(systems) + 1), systems)
    ax.set_ylabel("peak memory of the run's process tree (GB)")
    ax.tick_params(axis="x", labelrotation=20, labelsize=7)
    _save(plt, fig, out_dir / "memory.png")


def _legend(fig, color: dict) -> None:
    from matplotlib.lines import Line2D
    fig.legend([Line2D([], [], color=c, marker="o") for c in color.values()], list(color), loc="upper center",
               ncol=len(color), fontsize=8, frameon=False)
    fig.subplots_adjust(top=0.8)


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=100)
    plt.close(fig)

