"""The standard plots of an explanation and of a fit, as matplotlib Figures (the `plot` extra).
Each takes frames that automm already returns, so that a user can redraw them in any other tool."""
from __future__ import annotations

import numpy as np
import pandas as pd

MAX_BARS = 20


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'automm[plot]'") from None
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg", force=False)  # no screen needed; a notebook keeps its own backend
    import matplotlib.pyplot as plt
    return plt


def _need(frame, what: str):
    if frame is None or len(frame) == 0:
        raise ValueError(f"this explanation has no {what}: explain() computes it from labelled data "
                         "(the label column present)" if what != "contributions" else
                         "this explanation has no contributions: give explain() rows to explain")
    return frame


def importance(ex):
    imp = _need(ex.importance, "importance").head(MAX_BARS).iloc[::-1]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(imp) + 1.2))
    err = np.vstack([imp.importance - imp.ci_low, imp.ci_high - imp.importance]).clip(min=0)
    ax.barh(imp.index.astype(str), imp.importance, xerr=err, color="#4c72b0", capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("drop of the score when the column is shuffled (interval: bootstrap)")
    ax.set_title("Permutation importance by input column")
    fig.tight_layout()
    return fig


def waterfall(ex, row):
    c = _need(ex.contributions, "contributions").loc[row]
    c = c.reindex(c.abs().sort_values(ascending=False).index)
    if len(c) > MAX_BARS:
        c = pd.concat([c.iloc[: MAX_BARS - 1], pd.Series({f"{len(c) - MAX_BARS + 1} others": c.iloc[MAX_BARS - 1:].sum()})])
    base = float(ex.base.loc[row]) if isinstance(ex.base, pd.Series) else float(ex.base)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(c) + 1.5))
    left = base + np.r_[0, np.cumsum(c.to_numpy())[:-1]]
    colors = np.where(c.to_numpy() >= 0, "#c44e52", "#4c72b0")
    labels = [f"{k} = {_short(ex.values.loc[row, k])}" if k in ex.values.columns else str(k) for k in c.index]
    ax.barh(range(len(c))[::-1], c.to_numpy(), left=left, color=colors)
    ax.set_yticks(range(len(c))[::-1], labels)
    ax.axvline(base, color="gray", ls="--", lw=0.8)
    ax.axvline(base + c.sum(), color="black", lw=0.8)
    ax.set_xlabel(f"{ex.explained}: base {base:.4g}, prediction {base + c.sum():.4g}")
    ax.set_title(f"Contributions to row {row!r}")
    fig.tight_layout()
    return fig


def _short(v, n: int = 30) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def summary(ex):
    """Beeswarm: each row's contribution of each column, coloured by the value's rank where the column is
    numeric."""
    c = _need(ex.contributions, "contributions")
    order = c.abs().mean().sort_values().index[-MAX_BARS:]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(order) + 1.5))
    rng = np.random.default_rng(0)
    for i, col in enumerate(order):
        v = pd.to_numeric(ex.values[col], errors="coerce")
        colour = v.rank(pct=True).fillna(0.5).to_numpy() if v.notna().any() else np.full(len(c), 0.5)
        ax.scatter(c[col], i + rng.uniform(-0.25, 0.25, len(c)), c=colour, cmap="coolwarm", s=8, vmin=0, vmax=1)
    ax.set_yticks(range(len(order)), [str(o) for o in order])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"contribution to {ex.explained} (colour: the value's rank, numeric columns)")
    ax.set_title("Contributions by input column")
    fig.tight_layout()
    return fig


def dependence(ex, column=None):
    pd_ = _need(ex.partial_dependence, "partial dependence")
    columns = list(dict.fromkeys(pd_.column)) if column is None else [column]
    plt = _plt()
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns) + 0.5, 3), squeeze=False)
    for ax, col in zip(axes[0], columns):
        d = pd_[pd_.column == col]
        numeric = bool(pd.to_numeric(d.value, errors="coerce").notna().all())
        x = pd.to_numeric(d.value) if numeric else d.value.astype(str)
        for _, g in d[d.row >= 0].groupby("row"):
            ax.plot(x[g.index], g.prediction, color="#999999", lw=0.5, alpha=0.5)
        mean = d[d.row == -1]
        ax.plot(x[mean.index], mean.prediction, color="#c44e52", lw=2, marker="o" if not numeric else None)
        ax.set_title(str(col))
        if not numeric:
            ax.tick_params(axis="x", rotation=60, labelsize=7)
    axes[0][0].set_ylabel("prediction (ICE grey, mean red)")
    fig.tight_layout()
    return fig


def confusion(ex):
    m = _need(ex.confusion_matrix, "confusion matrix")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1 + 0.5 * len(m), 0.8 + 0.5 * len(m)))
    ax.imshow(m.to_numpy(), cmap="Blues")
    ax.set_xticks(range(len(m.columns)), [str(c) for c in m.columns], rotation=60)
    ax.set_yticks(range(len(m.index)), [str(c) for c in m.index])
    if len(m) <= 20:
        for i in range(len(m)):
            for j in range(len(m.columns)):
                ax.text(j, i, int(m.iat[i, j]), ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    return fig


def residuals(ex):
    r = _need(ex.residuals, "residuals")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(r.prediction, r.residual, s=6, alpha=0.5)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("prediction")
    ax.set_ylabel("label - prediction")
    ax.set_title("Residuals")
    fig.tight_layout()
    return fig


def calibration(ex):
    c = _need(ex.calibration, "calibration curve")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=0.8)
    ax.plot(c.mean_predicted, c.fraction_true, marker="o")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction true")
    ax.set_title("Calibration")
    fig.tight_layout()
    return fig


def leaderboard(board: pd.DataFrame, metric: str):
    """Validation (and test, when the board has it) score by model."""
    b = board.iloc[::-1]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(b) + 1.2))
    y = np.arange(len(b))
    ax.barh(y - 0.2, b.score_val, height=0.4, label="validation (out of fold)", color="#4c72b0")
    if "score_test" in b.columns:
        ax.barh(y + 0.2, b.score_test, height=0.4, label="test", color="#dd8452")
    ax.set_yticks(y, b.model.astype(str))
    lo = np.nanmin(b[[c for c in ("score_val", "score_test") if c in b.columns]].to_numpy())
    ax.set_xlim(left=min(0.0, lo) if lo < 0 else lo * 0.9)
    ax.set_xlabel(metric)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title("Score by model")
    fig.tight_layout()
    return fig


def timeline(models: pd.DataFrame):
    """models: name, start (seconds from the fit's start), seconds; one bar each."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(models) + 1.2))
    y = np.arange(len(models))[::-1]
    ax.barh(y, models.seconds, left=models.start, color="#55a868")
    ax.set_yticks(y, models.name.astype(str))
    ax.set_xlabel("seconds from the start of the fit")
    ax.set_title("Which model ran when")
    fig.tight_layout()
    return fig


def all_figures(ex) -> dict:
    out = {}
    for title, frame, draw in (("Permutation importance", ex.importance, importance),
                               ("Contributions by input column", ex.contributions, summary),
                               ("Partial dependence", ex.partial_dependence, dependence),
                               ("Confusion matrix", ex.confusion_matrix, confusion),
                               ("Residuals", ex.residuals, residuals),
                               ("Calibration", ex.calibration, calibration)):
        if frame is not None and len(frame):
            out[title] = draw(ex)
    if ex.contributions is not None and len(ex.contributions):
        out["Contributions to one row"] = waterfall(ex, ex.contributions.index[0])
    return out
