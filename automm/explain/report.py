"""The model card: what a fitted predictor is, how its fit went and (given data) how it explains its
predictions, as Markdown text (fit_summary(format="markdown")) or as one self-contained HTML file
(report()): plots inlined as PNG data, no script, no stylesheet or font from elsewhere, so that it
opens from disk on any machine and fetches nothing."""
from __future__ import annotations

import base64
import datetime
import hashlib
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..compat import installed_versions


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)     # prose, one paragraph each
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, object]] = field(default_factory=list)  # (caption, matplotlib Figure)


def data_digest(df: pd.DataFrame) -> str:
    """sha256 of the rows' values and the column names: the same table gives the same digest."""
    h = hashlib.sha256(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    h.update("\x1f".join(map(str, df.columns)).encode())
    return h.hexdigest()


def _timeline(p) -> pd.DataFrame:
    bags = [b for b in p.models_ if b.started_at is not None]
    if not bags:
        return pd.DataFrame(columns=["name", "start", "seconds"])
    t0 = min(b.started_at for b in bags)
    lead = float((p.timings_ or {}).get("features", 0.0))
    rows = [{"name": "features", "start": 0.0, "seconds": lead}] + [
        {"name": b.name, "start": lead + b.started_at - t0, "seconds": b.fit_time} for b in bags]
    return pd.DataFrame(rows)


def card(p, data=None, explanation=None, plots: bool = False) -> list[Section]:
    """The sections of the model card; plots=True draws the figures (matplotlib)."""
    from . import plots as draw
    info = p.info()
    t = p.task_.problem_type
    head = Section("Model", [
        f"Label {p.label!r}, {t}" + (f", {len(p.classes_)} classes" if t != "regression" else "")
        + f"; eval_metric {info['eval_metric']}, validation score {info['val_score']:.4f} (out of fold).",
        f"Fit in {info['fit_time']:.1f}s; predict uses the {info['inference']} models. automm {info['automm_version']}"
        + (f"; model digest {info['digest']}" if info.get("digest") else "; not saved yet (no digest)") + "."])
    schema = Section("Columns", ["Each input column's kind and why automm chose it."],
                     [("schema", pd.DataFrame(info["schema"], columns=["column", "kind", "reason"]))])
    plan, timings = info["time_plan"] or {}, info["timings"] or {}
    time_s = Section("Time", [f"time_limit: {plan.get('time_limit')}; steps: "
                              + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())])
    if info.get("second_round"):
        sr = info["second_round"]
        time_s.lines.append("Second round: " + (f"ran, kept the {sr.get('kept')}" if sr.get("ran") else
                                                f"not run ({sr.get('reason')})"))
    line = _timeline(p)
    time_s.tables.append(("models in the order they ran", line.round(2)))
    emb = Section("Embeddings", _plan_lines(p))
    labelled = data is not None and p.label in data.columns
    board = p.leaderboard(data if labelled else None)
    keep = [c for c in ("model", "layer", "score_val", "score_test", "fit_time", "ensemble_weight", "rows_per_s")
            if c in board.columns]
    models = Section("Models", ["Ensemble weights from Caruana selection on the out-of-fold predictions."],
                     [("leaderboard", board[keep].round(4))])
    failures = p.model_failures()
    if failures:
        models.lines.append("Failed and left out: " + "; ".join(f"{k}: {v['error']}" for k, v in failures.items()))
    sections = [head, schema, time_s, emb, models]
    if explanation is not None:
        sections.append(_explanation_section(explanation))
    sections.append(Section("Provenance", [
        f"Report made {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}"
        + (f" on {len(data)} rows, data digest {data_digest(data)}" if data is not None else "") + ".",
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in installed_versions().items()) + "."]))
    if plots:
        if len(line) > 1:
            time_s.figures.append(("Which model ran when", draw.timeline(line)))
        models.figures.append(("Score by model", draw.leaderboard(board[board.score_val.notna()], info["eval_metric"])))
        if explanation is not None:
            sections[-2].figures += list(explanation.figures().items())
    return sections


def _plan_lines(p) -> list[str]:
    emb = p.pipeline_.emb_
    plan = getattr(emb, "plan_", None) if emb is not None else None
    return list(plan) if plan else ["No frozen embeddings in this model."]


def _explanation_section(ex) -> Section:
    s = Section("Explanation", [])
    if ex.importance is not None:
        s.lines.append("Permutation importance: the drop of the score when a column's values are shuffled "
                       "(a text or an image moves whole), with a bootstrap interval and a one-sided p-value.")
        s.tables.append(("importance", ex.importance.round(4)))
    if ex.contributions is not None:
        s.lines.append(f"Contributions of each input column to {ex.explained} for {len(ex.contributions)} rows "
                       f"({ex.method}" + (f", {ex.paths} paths per row" if ex.paths else "") + f"); they add up to "
                       f"the prediction within {ex.additivity_error():.1e}.")
        s.tables.append(("mean |contribution|", ex.contributions.abs().mean().sort_values(ascending=False)
                         .to_frame("mean_abs").round(4)))
    for name, frame in (("per class", ex.per_class), ("confusion matrix", ex.confusion_matrix),
                        ("calibration", ex.calibration), ("n-grams of the linear text model", ex.ngrams)):
        if frame is not None and len(frame):
            s.tables.append((name, frame.round(4) if name != "confusion matrix" else frame))
    if ex.residuals is not None:
        s.tables.append(("residuals", ex.residuals.describe().round(4)))
    return s


def markdown(sections: list[Section]) -> str:
    out = []
    for s in sections:
        out += [f"## {s.title}", ""] + [line + "\n" for line in s.lines]
        for name, frame in s.tables:
            out += [f"*{name}*", "", _md_table(frame), ""]
    return "\n".join(out).rstrip() + "\n"


def _md_table(frame: pd.DataFrame) -> str:
    f = frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()
    cells = [[str(c) for c in f.columns]] + [[str(v).replace("|", "\\|") for v in row] for row in f.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
                     + ["| " + " | ".join(r) + " |" for r in cells[1:]])


STYLE = """body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;font-size:0.85rem;margin:0.5rem 0 1rem}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f2f2f2}img{max-width:100%;display:block;margin:0.5rem 0}figcaption{font-size:0.8rem;color:#555}"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def html_page(sections: list[Section], title: str) -> str:
    body = []
    for s in sections:
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        body += [f"<p>{html.escape(line)}</p>" for line in s.lines]
        for name, frame in s.tables:
            body.append(f"<h3>{html.escape(name)}</h3>" + frame.to_html(escape=True, border=0, na_rep=""))
        for caption, fig in s.figures:
            body.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{_png(fig)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>" + "\n".join(body) + "</body></html>\n")


def write_report(p, path, data=None, explanation=None) -> Path:
    sections = card(p, data, explanation, plots=True)
    path = Path(path)
    text = html_page(sections, f"automm model card: {p.label}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # a report that failed halfway never replaces an earlier one
    return path
