"""What the fit produced, within reach (issue 14, part): model names, the best model, failures with
their tracebacks, one model's predictions, out-of-fold predictions, and AutoGluon's names."""
import numpy as np
import pandas as pd
import pytest

import automm
from automm import MultimodalPredictor
from automm.presets import get_preset

from .conftest import split


@pytest.fixture(scope="module")
def fitted(binary_df):
    train, test = split(binary_df)
    train.index = train.index + 1000  # the user's own index, which out-of-fold predictions keep
    p = MultimodalPredictor("y", verbosity=0).fit(train, hyperparameters={"linear": {}, "lightgbm": {}},
                                                  num_bag_folds=3, num_stack_levels=1)
    return p, train, test


@pytest.mark.slow
def test_model_names_best_and_one_models_predictions(fitted, tmp_path):
    p, _, test = fitted
    assert p.model_names() == ["linear_L1", "lightgbm_L1", "linear_L2"]
    assert p.model_best() == "ensemble"  # Caruana selection is never worse than a single model out of fold
    X = p._features(test)
    for name in p.model_names():
        bag = next(b for b in p.models_ if b.name == name)
        if bag.layer == 1:
            np.testing.assert_allclose(p.predict_proba(test, model=name).to_numpy(), bag.predict(X))
    assert p.predict(test, model="linear_L2").isin(["yes", "no"]).all()
    with pytest.raises(KeyError, match="not in this predictor"):
        p.predict(test, model="catboost_L1")
    p.refit_full()
    assert "lightgbm_L1_FULL" in p.model_names()
    full = p.predict_proba(test, model="lightgbm_L1_FULL")
    assert not np.allclose(full.to_numpy(), p.predict_proba(test, model="lightgbm_L1").to_numpy())
    p.save(tmp_path / "m")
    q = MultimodalPredictor.load(tmp_path / "m")
    assert q.model_names() == p.model_names()
    pd.testing.assert_frame_equal(q.predict_proba(test, model="lightgbm_L1_FULL"), full)
    p.set_inference("bagged")  # as the other tests of this module expect it


def test_out_of_fold_predictions_of_each_model_and_the_ensemble(fitted):
    p, train, _ = fitted
    oof = p.predict_proba_oof()
    assert list(oof.index) == list(train.index) and list(oof.columns) == ["no", "yes"]
    assert oof.notna().all().all() and np.allclose(oof.sum(axis=1), 1)
    blend = sum(w * next(b for b in p.models_ if b.name == n).oof for n, w in p.weights_.items() if w > 0)
    np.testing.assert_allclose(oof.to_numpy(), blend)
    y = (train["y"] == "yes").astype(int).to_numpy()
    assert p.metric_.score(y, oof.to_numpy()) == pytest.approx(p.val_score_)
    lin = p.predict_proba_oof("linear_L1")
    np.testing.assert_array_equal(lin.to_numpy(), p.models_[0].oof)
    assert set(p.predict_oof()) <= {"yes", "no"} and (p.predict_oof().index == train.index).all()
    with pytest.raises(KeyError, match="bagged models"):
        p.predict_proba_oof("nope")


def test_a_hold_out_fit_leaves_the_training_rows_it_did_not_validate_empty(binary_df):
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, presets="fast")
    oof = p.predict_oof()
    assert 0.15 < oof.isna().mean() < 0.85 and oof.dropna().isin(["yes", "no"]).all()


def test_failures_keep_their_error_and_traceback(binary_df, register, tmp_path):
    register("raising", "tests.crashing_model:RaisingModel", "sklearn", "scikit-learn")
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, hyperparameters={"linear": {}, "raising": {}},
                                                  num_bag_folds=2)
    failures = p.model_failures()
    assert list(failures) == ["raising_L1"]
    assert failures["raising_L1"]["error"] == "ValueError: this model always fails"
    assert "Traceback" in failures["raising_L1"]["traceback"] and "crashing_model.py" in failures["raising_L1"]["traceback"]
    p.save(tmp_path / "m")
    assert MultimodalPredictor.load(tmp_path / "m").model_failures() == failures


def test_autogluon_names_work():
    assert automm.MultiModalPredictor is MultimodalPredictor
    assert get_preset("high_quality") == get_preset("best") == get_preset("good_quality")
    assert get_preset("best_quality").num_stack_levels == 1
    merged = get_preset(["best", "fast"])  # later presets override earlier ones
    assert merged.num_bag_folds == 0 and merged.stack_models == get_preset("best").stack_models
    with pytest.raises(ValueError, match="not known"):
        get_preset(["best", "fastest"])


def test_the_log_goes_through_the_automm_logger_with_the_fits_time_left(binary_df):
    import logging
    lines = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())
    keep = Keep()
    logging.getLogger("automm").addHandler(keep)
    try:
        MultimodalPredictor("y", verbosity=2).fit(binary_df, presets="fast", time_limit=60)
    finally:
        logging.getLogger("automm").removeHandler(keep)
    assert any("time plan:" in m and "it ends by" in m for m in lines)
    left = [int(m.rsplit("(", 1)[1].split("s left")[0]) for m in lines if m.endswith("s left)")]
    assert left and all(0 <= s <= 60 for s in left)  # the whole fit's time, never negative


def test_leaderboard_speeds_are_end_to_end_so_that_they_compare(fitted):
    p, _, test = fitted
    board = p.leaderboard(test).set_index("model")
    ensemble = board.loc["ensemble", "rows_per_s"]
    # each includes the features (and a stacker its layer-1 inputs), as the ensemble's does
    assert (board["rows_per_s"] < 10 * ensemble).all()
    assert board.loc["linear_L2", "pred_time_test"] > board.loc["linear_L1", "pred_time_test"]


def test_a_pickled_predictor_leaves_its_training_data_behind(fitted):
    import pickle
    p, _, test = fitted
    q = pickle.loads(pickle.dumps(p))
    assert not hasattr(q, "_fit_data") and hasattr(p, "_fit_data")
    pd.testing.assert_frame_equal(q.predict_proba(test), p.predict_proba(test))
    with pytest.raises(ValueError, match="needs train_data"):
        q.refit_full()


def test_a_preset_is_a_frozen_type_whose_unknown_settings_fail():
    import dataclasses

    from automm.presets import PRESETS, Preset
    best = get_preset("best")
    with pytest.raises(dataclasses.FrozenInstanceError):
        best.models = ()
    with pytest.raises(ValueError, match=r"settings automm does not know: \['num_bag_fold'\]"):
        Preset.from_dict({**PRESETS["fast"], "num_bag_fold": 3}, "mine")
    assert best.with_overrides(second_round=False, hyperparameter_tune=None).second_round is False
    assert best.with_overrides(hyperparameter_tune=None) == best  # None: the preset's own
    with pytest.raises(TypeError):
        best.with_overrides(second_rounds=True)  # a misspelt override fails instead of being ignored
