"""What a fitted predictor can tell about itself: the leaderboard and a readable summary of the fit.
Functions of a predictor, behind its methods of the same names (permutation importance: automm.explain)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .features.embeddings import uncached
from .fitted_state import FULL, check_fitted
from .rows import evaluation_weights
from .validation import as_frame

ENSEMBLE = "ensemble"


def leaderboard(p, data=None) -> pd.DataFrame:
    state = check_fitted(p)
    top = max(b.layer for b in p.models_) + 1
    rows = []
    for mode, suffix in (("bagged", ""), ("refit", FULL)):
        ens = p.ensembles_[mode]
        if ens is None:
            continue
        bagged = mode == "bagged"
        rows += [{"model": b.name + suffix, "layer": b.layer, "score_val": b.val_score if bagged else np.nan,
                  "fit_time": b.fit_time, "ensemble_weight": p.weights_[b.name]} for b in ens.models]
        rows.append({"model": ENSEMBLE + suffix, "layer": top, "score_val": p.val_score_ if bagged else np.nan,
                     "fit_time": p.fit_time_ if bagged else sum(b.fit_time for b in ens.models),
                     "ensemble_weight": 1.0})
    board = pd.DataFrame(rows)
    board["inference"] = np.where(board.model.str.endswith(FULL) == (p.inference_ == "refit"), "*", "")
    if data is not None:
        df = as_frame(data)
        y, w = state.labels.encode(df), evaluation_weights(df, p.sample_weight, p.weight_evaluation)
        t0 = time.monotonic()
        with uncached():  # the embeddings computed as for new rows, so that rows_per_s is what new rows get
            X = state.features(df, p.image_dir)
        t_feat = time.monotonic() - t0
        needed = p.ensembles_["bagged"].needed()
        for mode, suffix in (("bagged", ""), ("refit", FULL)):
            ens = p.ensembles_[mode]
            if ens is None or not ens.predictable:
                continue
            preds = ens.predict_each(X, {b.name for b in ens.models})
            layer1_secs = sum(s for n, (_, s) in preds.items() if n in {b.name for b in ens.layer1})
            for name, (pred, secs) in preds.items():
                i = board.index[board.model == name + suffix][0]
                board.loc[i, "score_test"] = state.score(y, pred, w)
                # end to end, as the ensemble's: the features, and a stacker's inputs from layer 1
                stacker = board.loc[i, "layer"] == 2
                board.loc[i, "pred_time_test"] = t_feat + secs + (layer1_secs if stacker else 0.0)
            i = board.index[board.model == ENSEMBLE + suffix][0]
            board.loc[i, "score_test"] = state.score(y, ens.blend(preds), w)
            board.loc[i, "pred_time_test"] = t_feat + sum(s for n, (_, s) in preds.items() if n in needed)
        board["rows_per_s"] = len(df) / board["pred_time_test"]
    key = "score_test" if data is not None else "score_val"
    return board.sort_values(key, ascending=not p.metric_.greater_is_better).reset_index(drop=True)


def fit_summary(p, verbosity: int = 1) -> str:
    check_fitted(p)
    t = p.task_
    lines = [f"automm predictor: label {p.label!r}, {t.problem_type}"
             + (f" ({len(p.classes_)} classes: {_few(p.classes_)})" if t.problem_type != "regression" else "")
             + f", eval_metric {p.metric_.name} ({'higher' if p.metric_.greater_is_better else 'lower'} is better)"]
    lines += ["", "columns:", p.schema_.table()]
    plan, timings = p.time_plan_ or {}, p.timings_ or {}
    limit = plan.get("time_limit")
    lines += ["", f"time: {p.fit_time_:.1f}s of " + ("no limit" if limit is None else f"a {limit:g}s limit")
              + "".join(f"; {k} {v:.1f}s" for k, v in timings.items())]
    if p.parallel_:
        lines.append(f"ran on {p.parallel_['backend']} with {p.parallel_['slots']} slot(s)")
    emb = p.pipeline_.emb_
    if emb is not None and getattr(emb, "plan_", None):
        lines += ["", "embedding plan:"] + [f"  {line}" for line in emb.plan_]
    second = getattr(p, "second_round_", None)
    if second:
        lines.append("second round: " + (f"{', '.join(second['weaker'])} in the first; validation "
                                         f"{second['val_scores']['first']:.4f} then {second['val_scores']['second']:.4f}, "
                                         f"kept the {second['kept']} ({second['seconds']:.0f}s)" if second["ran"] else
                                         f"not run: {second.get('reason')}"))
    board = p.leaderboard()
    board = board[[c for c in ("model", "layer", "score_val", "fit_time", "ensemble_weight", "inference")
                   if c in board.columns]]
    lines += ["", "models (validation scores out of fold):", board.to_string(index=False, float_format="%.4f")]
    used = ", ".join(f"{n} {w:.2f}" for n, w in p.weights_.items() if w > 0)
    lines += ["", f"ensemble: validation {p.metric_.name} {p.val_score_:.4f} from {used}; predict uses the "
                  f"{p.inference_} models"]
    if p.decision_threshold_ is not None:
        lines.append(f"decision threshold: {p.decision_threshold_:.3f} (the positive class {p.classes_[1]!r} "
                     "from this probability)")
    speeds = {k: v for k, v in (p.predict_rows_per_s_ or {}).items() if v}
    if speeds:
        lines.append("predict speed (new rows, features included): "
                     + ", ".join(f"{k} {v:,.0f} rows/s" for k, v in speeds.items()))
    for name, f in (p.failures_ or {}).items():
        lines.append(f"failed: {name}: {f['error']}")
        if verbosity >= 2 and f.get("traceback"):
            lines.append(f["traceback"].rstrip())
    return "\n".join(lines)


def _few(values, n: int = 5) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:n])
    return shown + (f", ... ({len(values) - n} more)" if len(values) > n else "")
