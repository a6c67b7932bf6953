"""Day two (issue 14): sample weights, groups and the user's folds, holdout_frac, repeated bagging,
model type filters, positive_class, the decision threshold, predict_multi, fit_summary, and the
deployment calls (delete_models, infer_limit, distill)."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import TimeSeriesSplit

from automm import MultimodalPredictor
from automm.folds import make_folds

from .conftest import split

TWO = {"linear": {}, "lightgbm": {}}


def _fit(df, label="y", init=None, **kw):
    kw = {"hyperparameters": TWO, "num_bag_folds": 3, **kw}
    return MultimodalPredictor(label, verbosity=0, **(init or {})).fit(df, **kw)


# ---- sample weights -------------------------------------------------------------------------
@pytest.mark.slow
def test_sample_weights_reach_the_models(binary_df):
    """A third of the training labels flipped: weighted 0, they are ignored and the test score recovers."""
    train, test = split(binary_df)
    rng = np.random.default_rng(0)
    noisy = train.copy()
    flip = rng.random(len(noisy)) < 0.35
    noisy.loc[flip, "y"] = np.where(noisy.loc[flip, "y"] == "yes", "no", "yes")
    noisy["w"] = np.where(flip, 0.0, 1.0)
    plain = _fit(noisy.drop(columns="w"), init={"eval_metric": "roc_auc"})
    weighted = _fit(noisy, init={"eval_metric": "roc_auc", "sample_weight": "w"})
    assert "w" not in weighted.schema_.used_columns
    assert weighted.evaluate(test)["score"] > plain.evaluate(test)["score"] + 0.03
    # the validation score is weighted: it scores the clean rows only
    oof = weighted.predict_proba_oof()["yes"].to_numpy()
    clean = ~flip
    expected = roc_auc_score(noisy["y"][clean] == "yes", oof[clean])
    assert weighted.val_score_ == pytest.approx(expected, abs=1e-9)
    # an array works as well as a column
    as_array = _fit(noisy.drop(columns="w"), init={"eval_metric": "roc_auc"}, sample_weight=noisy["w"].to_numpy())
    assert as_array.val_score_ == pytest.approx(weighted.val_score_, abs=1e-9)


@pytest.mark.parametrize("weights, message", [
    ("nope", "not in the training data"),
    (np.ones(5), "values for"),
    (-np.ones(375), "negative"),
    (np.zeros(375), "0 for every row"),
])
def test_bad_sample_weights_are_refused_before_any_work(binary_df, weights, message):
    train, _ = split(binary_df)
    with pytest.raises((ValueError, KeyError), match=message):
        MultimodalPredictor("y", verbosity=0).fit(train, sample_weight=weights, hyperparameters=TWO)


# ---- groups, folds, hold-out, bag sets --------------------------------------------------------
def test_groups_never_straddle_a_split():
    y = np.tile([0, 1], 100)
    groups = np.repeat(np.arange(20), 10)
    for k in (0, 4):
        for tr, va in make_folds(y, "binary", k, seed=3, groups=groups):
            assert not set(groups[tr]) & set(groups[va])


@pytest.mark.slow
def test_groups_column_is_set_aside_and_used(binary_df):
    df = binary_df.copy()
    df["g"] = np.arange(len(df)) // 25
    p = _fit(df, init={"groups": "g"})
    assert p.schema_["g"].kind == "ignore" and "groups" in p.schema_["g"].reason
    assert p.predict_oof().notna().all()


@pytest.mark.slow
def test_the_users_folds(binary_df):
    train, _ = split(binary_df)
    ids = np.arange(len(train)) % 3
    ids[:30] = -1  # training only: no out-of-fold prediction
    p = _fit(train, folds=ids)
    oof = p.predict_oof()
    assert oof.iloc[:30].isna().all() and oof.iloc[30:].notna().all()
    ts = _fit(train, folds=TimeSeriesSplit(3))
    first = len(train) - 3 * (len(train) // 4)
    assert ts.predict_oof().iloc[:first].isna().all() and ts.predict_oof().iloc[first:].notna().all()
    with pytest.raises(ValueError, match="fold number for each"):
        _fit(train, folds=[1, 2, 3])


@pytest.mark.slow
def test_holdout_frac(binary_df):
    train, _ = split(binary_df)
    p = _fit(train, num_bag_folds=0, holdout_frac=0.4)
    assert p.predict_oof().notna().sum() == int(np.ceil(0.4 * len(train)))
    with pytest.raises(ValueError, match="holdout_frac"):
        _fit(train, holdout_frac=1.5)


@pytest.mark.slow
def test_bag_sets_repeat_the_folds_with_new_seeds(binary_df):
    train, _ = split(binary_df)
    one, two = _fit(train), _fit(train, num_bag_sets=2)
    assert [len(b.models) for b in two.models_] == [6, 6]
    assert [len(b.models) for b in one.models_] == [3, 3]
    # the second set's folds differ, so the averaged out-of-fold predictions do too
    assert not np.allclose(one.models_[1].oof, two.models_[1].oof)
    with pytest.raises(ValueError, match="num_bag_folds >= 2"):
        _fit(train, num_bag_folds=0, num_bag_sets=2)


def test_included_and_excluded_model_types(binary_df):
    train, _ = split(binary_df)
    p = MultimodalPredictor("y", verbosity=0).fit(train, presets="fast", excluded_model_types=["LR"])
    assert [b.kind for b in p.models_] == ["lightgbm"]
    p = MultimodalPredictor("y", verbosity=0).fit(train, presets="fast", included_model_types=["linear"])
    assert [b.kind for b in p.models_] == ["linear"]
    with pytest.raises(ValueError, match="unknown models"):
        MultimodalPredictor("y").fit(train, excluded_model_types=["RF"])
    with pytest.raises(ValueError, match="no model is left"):
        MultimodalPredictor("y").fit(train, presets="fast", included_model_types=["catboost"])


# ---- positive class, thresholds ----------------------------------------------------------------
@pytest.mark.slow
def test_positive_class_orders_the_classes(binary_df):
    train, test = split(binary_df)
    p = _fit(train, init={"positive_class": "no"})
    assert list(p.classes_) == ["yes", "no"]
    proba = p.predict_proba(test, as_multiclass=False)
    assert isinstance(proba, pd.Series) and proba.name == "no"
    assert np.allclose(proba, p.predict_proba(test)["no"])
    with pytest.raises(ValueError, match="not a class"):
        _fit(train, init={"positive_class": "maybe"})


@pytest.fixture(scope="module")
def imbalanced(binary_df):
    """A rare positive class, where the F1-best cut is far from 0.5."""
    df = binary_df.copy()
    keep = (df["y"] == "no") | (np.arange(len(df)) % 4 == 0)
    return split(df[keep].reset_index(drop=True))


@pytest.mark.slow
def test_threshold_is_calibrated_for_f1_and_used_by_predict(imbalanced, tmp_path):
    train, test = imbalanced
    p = _fit(train, init={"eval_metric": "f1"})
    t = p.decision_threshold_
    assert t is not None and t != 0.5
    y = (p.oof_y_ == 1)
    oof = p.predict_proba_oof()["yes"].to_numpy()
    assert f1_score(y, oof >= t) >= f1_score(y, oof >= 0.5)
    proba = p.predict_proba(test)["yes"]
    assert (p.predict(test) == np.where(proba >= t, "yes", "no")).all()
    assert (p.predict(test, decision_threshold=0.5) == np.where(proba >= 0.5, "yes", "no")).all()
    assert p.evaluate(test)["f1"] == pytest.approx(f1_score(test["y"] == "yes", proba >= t))
    p.save(tmp_path / "m")
    assert MultimodalPredictor.load(tmp_path / "m").decision_threshold_ == t
    assert p.set_decision_threshold(None).decision_threshold_ is None
    off = _fit(train, init={"eval_metric": "f1"}, calibrate_decision_threshold=False)
    assert off.decision_threshold_ is None
    assert _fit(train, init={"eval_metric": "accuracy"}).decision_threshold_ is None  # auto: not for accuracy


# ---- inspection -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_predict_multi_and_the_summary(binary_df):
    train, test = split(binary_df)
    p = _fit(train)
    multi = p.predict_multi(test)
    assert set(multi) == set(p.model_names())
    for name, pred in multi.items():
        assert (pred == p.predict(test, model=name)).all()
    proba = p.predict_proba_multi(test, models=["lightgbm_L1"])
    assert np.allclose(proba["lightgbm_L1"], p.predict_proba(test, model="lightgbm_L1"))
    text = p.fit_summary()
    for part in ("linear_L1", "lightgbm_L1", "score_val", "columns:", "review", "ensemble: validation roc_auc"):
        assert part in text


# ---- deployment -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_delete_models_saves_a_smaller_folder_that_predicts_the_same(binary_df, tmp_path):
    train, test = split(binary_df)
    p = _fit(train)
    p.refit_full()
    before = p.predict_proba(test)
    p.save(tmp_path / "all")
    assert p.delete_models(dry_run=True) == ["linear_L1", "lightgbm_L1"]
    with pytest.raises(ValueError, match="predict uses"):
        p.delete_models(models_to_keep=["linear_L1_FULL"])
    p.delete_models()
    assert p.model_names() == ["linear_L1_FULL", "lightgbm_L1_FULL"]
    p.save(tmp_path / "small")
    size = {d: sum(f.stat().st_size for f in (tmp_path / d).rglob("*") if f.is_file()) for d in ("all", "small")}
    assert size["small"] < size["all"]
    loaded = MultimodalPredictor.load(tmp_path / "small")
    assert np.allclose(loaded.predict_proba(test), before)
    with pytest.raises(ValueError, match="deleted"):
        loaded.set_inference("bagged")


@pytest.mark.slow
def test_infer_limit_keeps_the_fastest_blend_that_meets_it(binary_df):
    train, _ = split(binary_df)
    loose = _fit(train, infer_limit=10.0)
    assert sum(w > 0 for w in loose.weights_.values()) == 2
    tight = _fit(train, infer_limit=1e-9)  # nothing meets it: the fastest single model
    assert sum(w > 0 for w in tight.weights_.values()) == 1
    with pytest.raises(ValueError, match="infer_limit"):
        _fit(train, infer_limit=-1)


@pytest.mark.slow
def test_distill_makes_one_fast_model_that_saves_and_loads(binary_df, tmp_path):
    train, test = split(binary_df)
    teacher = _fit(train)
    student = teacher.distill(time_limit=60)
    assert len(student.models_) == 1 and student.models_[0].name.endswith("_distilled_L1")
    assert student.pipeline_.emb_ is None
    assert student.evaluate(test)["score"] > 0.85 and student.models_[0].kind in ("lightgbm", "linear")
    assert teacher.predict(test).shape == student.predict(test).shape
    student.save(tmp_path / "s")
    assert np.allclose(MultimodalPredictor.load(tmp_path / "s").predict_proba(test), student.predict_proba(test))


@pytest.mark.slow
def test_distill_keeps_the_sample_weights(binary_df, monkeypatch):
    """Rows weighted 0 in the teacher's fit weigh 0 in the student's; augmented rows weigh as an average row."""
    from automm import deployment
    train, test = split(binary_df)
    df = train.copy()
    df["w"] = np.where(np.arange(len(df)) % 3 == 0, 0.0, 1.0)
    teacher = _fit(df, init={"sample_weight": "w"})
    seen = {}
    fit_student = deployment._fit_student

    def spy(p, X, *args):
        seen["weight"] = X.weight
        return fit_student(p, X, *args)

    monkeypatch.setattr(deployment, "_fit_student", spy)
    student = teacher.distill(time_limit=60, augment_factor=0.5)
    w = seen["weight"]
    assert len(w) == len(df) + len(df) // 2
    assert np.array_equal(w[:len(df)] == 0, df["w"].to_numpy() == 0) and np.allclose(w[len(df):], 1.0)
    assert student.evaluate(test)["score"] > 0.85


@pytest.mark.slow
def test_distill_a_regression(regression_df):
    train, test = split(regression_df)
    student = _fit(train).distill()
    assert student.evaluate(test)["r2"] > 0.5
