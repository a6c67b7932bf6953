import numpy as np
import pandas as pd
import pytest

from automm import MultimodalPredictor


def fit(df, **kw):
    return MultimodalPredictor(kw.pop("label", "y"), verbosity=0, **kw.pop("init", {})).fit(df, **kw)


@pytest.fixture()
def df():
    return pd.DataFrame({"a": np.arange(40.0), "b": ["x", "y"] * 20, "y": [0, 1] * 20})


@pytest.mark.parametrize("mutate,kwargs,error,match", [
    (lambda d: d.drop(columns="y"), {}, KeyError, "label column 'y' is not in"),
    (lambda d: d.assign(y=np.nan), {}, ValueError, "all missing"),
    (lambda d: d.assign(y=1), {}, ValueError, "single value"),
    (lambda d: d.head(6), {"presets": "medium"}, ValueError, "fewer than the 10 needed"),
    (lambda d: d.iloc[:0], {}, ValueError, "empty"),
    (lambda d: d.rename(columns={"b": "a"}), {}, ValueError, r"duplicate column names \['a'\]"),
    (lambda d: d, {"time_limit": 0}, ValueError, "time_limit must be a positive"),
    (lambda d: d, {"time_limit": -5}, ValueError, "time_limit must be a positive"),
    (lambda d: d, {"presets": "ultra"}, ValueError, "presets='ultra'"),
    (lambda d: d, {"hyperparameters": {"svm": {}}}, ValueError, r"unknown models \['svm'\]"),
    (lambda d: d, {"init": {"eval_metric": "bogus"}}, ValueError, "eval_metric='bogus'"),
    (lambda d: d[["y"]], {}, ValueError, "only the label column"),
    (lambda d: d, {"init": {"column_types": {"nope": "text"}}}, ValueError, "'nope'"),
])
def test_bad_input_fails_fast_with_a_clear_message(df, mutate, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit(mutate(df), **kwargs)


def test_regression_metric_on_string_labels_says_so():
    d = pd.DataFrame({"a": np.arange(40.0), "y": ["cat", "dog"] * 20})
    with pytest.raises(ValueError, match="non-numeric value"):
        fit(d, init={"eval_metric": "r2"})


def test_fit_rejects_bad_types_and_paths():
    with pytest.raises(TypeError, match="DataFrame"):
        fit([1, 2, 3])
    with pytest.raises(FileNotFoundError, match="no file"):
        fit("/nonexistent/train.csv")


def test_predict_before_fit_and_empty_predict(df):
    with pytest.raises(RuntimeError, match="not fitted"):
        MultimodalPredictor("y").predict(df)
    p = fit(df, presets="fast", hyperparameters={"lightgbm": {}})
    with pytest.raises(ValueError, match="no rows"):
        p.predict(df.iloc[:0])
    with pytest.raises(KeyError, match="label column 'y' is needed"):
        p.evaluate(df.drop(columns="y"))
