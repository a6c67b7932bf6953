"""Runs one system on one dataset in its own process and writes its test predictions.

The parent scores every system with the same code (automm.metrics), so a worker only fits,
predicts and reports its timings: predictions.csv (one column, or one per class) and meta.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd


def fit_predict_automm(train, test, label, metric, problem_type, preset, time_limit, seed, image_dir=None,
                       options=None):
    """options: more arguments to fit (an ablation's excluded_model_types, say)."""
    from automm import MultimodalPredictor
    from automm.models import is_neural
    from automm.models.base import REGISTRY, is_available
    from automm.presets import get_preset
    p = MultimodalPredictor(label, problem_type=problem_type, eval_metric=metric, verbosity=2, seed=seed,
                            image_dir=image_dir)
    kwargs = dict(options or {})
    if preset.endswith("-noneural"):
        preset = preset[: -len("-noneural")]
        kwargs |= {"embeddings": False,
                  "hyperparameters": {m: {} for m in get_preset(preset).models if not is_neural(m)}}
    t0 = time.monotonic()
    p.fit(train, time_limit=time_limit, presets=preset, **kwargs)
    fit_s = time.monotonic() - t0
    # what the fit would train given the time: the preset's models whose library is here, less those that
    # read text when the table has none (as the fit leaves them out)
    excluded = set(kwargs.get("excluded_model_types") or ())
    planned = [m for m in kwargs.get("hyperparameters") or get_preset(preset).models if is_available(m)
               and m not in excluded and not (REGISTRY[m].text_tokens and not p.schema_.of_kind("text"))]
    t0 = time.monotonic()
    pred = p.predict_proba(test.drop(columns=[label])) if problem_type != "regression" \
        else p.predict(test.drop(columns=[label])).to_frame("prediction")
    predict_s = time.monotonic() - t0
    board = p.leaderboard()  # validation scores only: the test rows are scored by the runner
    layer1 = [m for m in board.model if m.endswith("_L1")]
    info = p.info()
    return pred, fit_s, predict_s, {"models": board.model.tolist(), "layer1_trained": len(layer1),
                                    "layer1_planned": len(planned), "leaderboard_csv": board.to_csv(index=False),
                                    "val_score": p.val_score_, "ended": why_ended(info),
                                    "anytime_trained": len((info.get("anytime") or {}).get("trained", [])),
                                    "predict_rows_per_s_10k": rows_per_s_at(p, test.drop(columns=[label]), BATCH)}


BATCH = 10_000  # rows per predict call for the throughput figure (the test rows repeated up to it)


def rows_per_s_at(p, test: pd.DataFrame, rows: int) -> float:
    """Rows per second of one predict call on `rows` rows: the test rows, repeated (a batch job's shape)."""
    batch = pd.concat([test] * -(-rows // len(test)), ignore_index=True).head(rows)
    t0 = time.monotonic()
    p.predict(batch)
    return round(rows / max(time.monotonic() - t0, 1e-9), 1)


def why_ended(info: dict) -> str:
    """Why an automm fit returned when it did, from its info()."""
    anytime, second = info.get("anytime"), info.get("second_round")
    if anytime:
        return anytime["ended"]
    if second and not second.get("ran"):
        return f"no portfolio left to run; second round not run: {second.get('reason')}"
    return "the planned models finished (no further configurations in this preset)"


def fit_predict_baseline(train, test, label, metric, problem_type, preset, time_limit, seed, image_dir=None,
                         options=None):
    """lgbm-tfidf-baseline: one LightGBM on the numeric and categorical columns and scikit-learn's TF-IDF
    of each text column (10,000 1-2-grams), early-stopped on 20% of the training rows; no time limit."""
    import lightgbm as lgb
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import train_test_split

    from automm.features.tabular import CategoricalEncoder, to_numeric
    from automm.schema import detect_schema
    t0 = time.monotonic()
    schema = detect_schema(train, label, problem_type=problem_type)
    vecs = {c: TfidfVectorizer(max_features=10_000, ngram_range=(1, 2), min_df=2, dtype=np.float32)
            .fit(train[c].fillna("").astype(str)) for c in schema.of_kind("text")}
    cats = {c: CategoricalEncoder().fit(train[c]) for c in schema.of_kind("categorical")}

    def featurize(df):
        blocks = [sp.csr_matrix(np.column_stack([to_numeric(df[c]) for c in schema.of_kind("numeric")] or
                                                [np.zeros(len(df), np.float32)]))]
        blocks += [sp.csr_matrix(e.transform(df[c]).reshape(-1, 1)) for c, e in cats.items()]
        blocks += [v.transform(df[c].fillna("").astype(str)) for c, v in vecs.items()]
        return sp.hstack(blocks, format="csr")

    classes = sorted(train[label].unique()) if problem_type != "regression" else None
    y = train[label].map({c: i for i, c in enumerate(classes)}).to_numpy() if classes else train[label].to_numpy(float)
    X = featurize(train)
    tr, va = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed)
    objective = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[problem_type]
    params = {"objective": objective, "learning_rate": 0.05, "verbose": -1, "seed": seed}
    if classes and len(classes) > 2:
        params["num_class"] = len(classes)
    booster = lgb.train(params, lgb.Dataset(X[tr], y[tr]), 5000, valid_sets=[lgb.Dataset(X[va], y[va])],
                        callbacks=[lgb.early_stopping(50, verbose=False)])
    fit_s = time.monotonic() - t0
    t0 = time.monotonic()
    raw = booster.predict(featurize(test))
    if problem_type == "regression":
        pred = pd.DataFrame({"prediction": raw})
    else:
        raw = np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw
        pred = pd.DataFrame(raw, columns=classes)
    return pred, fit_s, time.monotonic() - t0, {}


SYSTEMS = {"automm": fit_predict_automm, "baseline": fit_predict_baseline}


def main(argv=None):
    ap = argparse.ArgumentParser()
    for a in ("system", "train", "test", "label", "metric", "problem_type", "out"):
        ap.add_argument(f"--{a.replace('_', '-')}", required=True)
    ap.add_argument("--preset", default="best")
    ap.add_argument("--time-limit", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-train-rows", type=int, default=0)
    ap.add_argument("--image-dir", default=None)
    ap.add_argument("--options", default="{}", help="JSON: more arguments to automm's fit")
    a = ap.parse_args(argv)
    # each run computes its own embeddings: a cache warmed by an earlier run would flatter its time
    os.environ.setdefault("AUTOMM_EMBEDDING_CACHE", str(Path(a.out) / "embedding-cache"))
    train, test = pd.read_csv(a.train), pd.read_csv(a.test)
    if a.max_train_rows and len(train) > a.max_train_rows:
        train = train.sample(a.max_train_rows, random_state=a.seed).reset_index(drop=True)
    pred, fit_s, predict_s, extra = SYSTEMS[a.system](train, test, a.label, a.metric,
                                                      a.problem_type, a.preset, a.time_limit, a.seed, a.image_dir,
                                                      json.loads(a.options))
    out = Path(a.out)
    pred.to_csv(out / "predictions.csv", index=False)
    board = extra.pop("leaderboard_csv", None)
    if board:
        (out / "leaderboard.csv").write_text(board)
    (out / "meta.json").write_text(json.dumps({"fit_s": fit_s, "predict_s": predict_s, **extra}))


if __name__ == "__main__":
    main()
