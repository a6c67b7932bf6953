"""AutoGluon TabularPredictor on one dataset. Runs in AutoGluon's own virtual environment
(benchmarks/setup_autogluon.sh), so it imports nothing from automm."""
import argparse
import json
import tempfile
import time
from pathlib import Path

import autogluon.tabular
import pandas as pd
from autogluon.tabular import TabularPredictor

METRICS = {"accuracy": "accuracy", "roc_auc": "roc_auc", "r2": "r2", "rmse": "root_mean_squared_error",
           "mae": "mean_absolute_error", "log_loss": "log_loss", "f1": "f1", "balanced_accuracy": "balanced_accuracy"}


def main():
    ap = argparse.ArgumentParser()
    for a in ("train", "test", "label", "metric", "problem_type", "out"):
        ap.add_argument(f"--{a.replace('_', '-')}", required=True)
    ap.add_argument("--preset", default="medium_quality")
    ap.add_argument("--time-limit", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-train-rows", type=int, default=0)
    ap.add_argument("--options", default="{}", help="JSON: fit() keywords of a variant, e.g. excluded_model_types")
    a = ap.parse_args()
    options = json.loads(a.options)
    train, test = pd.read_csv(a.train), pd.read_csv(a.test)
    if a.max_train_rows and len(train) > a.max_train_rows:
        train = train.sample(a.max_train_rows, random_state=a.seed).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        # verbosity 2: the log, kept with the run, says what each model did with its time
        # the seed moves the hold-out split and the folds (learner random_state) and the bagged models' own seeds;
        # AutoGluon fixes both at 0 otherwise, and seeds would repeat one run
        p = TabularPredictor(label=a.label, problem_type=a.problem_type, eval_metric=METRICS[a.metric], path=tmp,
                             verbosity=2, learner_kwargs={"random_state": a.seed})
        t0 = time.monotonic()
        p.fit(train, time_limit=a.time_limit, presets=a.preset,
              ag_args_ensemble={"model_random_seed": a.seed}, **options)
        fit_s = time.monotonic() - t0
        t0 = time.monotonic()
        X = test.drop(columns=[a.label])
        pred = p.predict_proba(X) if a.problem_type != "regression" else p.predict(X).to_frame("prediction")
        predict_s = time.monotonic() - t0
        board = p.leaderboard(silent=True)  # validation scores, fit and predict times of every model
    out = Path(a.out)
    pred.to_csv(out / "predictions.csv", index=False)
    board.to_csv(out / "leaderboard.csv", index=False)  # the runner reads the layer-1 families from it
    (out / "meta.json").write_text(json.dumps({
        "fit_s": fit_s, "predict_s": predict_s, "models": board.model.tolist(), "options": options,
        "versions": {"autogluon": autogluon.tabular.__version__, "autogluon_torch": _version("torch")}}))


def _version(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
