"""The fitted state has one owner: a frozen FittedState that fit builds, the predictor holds, and
save and load write and read whole."""
import dataclasses

import numpy as np
import pytest

from automm import MultimodalPredictor
from automm.fitted_state import Ensembles, FittedState, check_fitted

from .conftest import split

MODELS = {"linear": {}, "lightgbm": {"n_estimators": 30}}


@pytest.fixture(scope="module")
def fitted(binary_df):
    train, test = split(binary_df)
    p = MultimodalPredictor("y", verbosity=0).fit(train, presets="fast", hyperparameters=MODELS, embeddings=False,
                                                  num_bag_folds=2)
    return p, test


def test_the_fitted_attributes_are_views_of_one_frozen_state(fitted):
    p, _ = fitted
    assert isinstance(p.state_, FittedState) and isinstance(p.state_.ensembles, Ensembles)
    assert p.schema_ is p.state_.schema and p.ensembles_["bagged"] is p.state_.ensembles.bagged
    assert p.inference_ == p.state_.ensembles.active == "bagged"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.state_.fit_time = 0.0
    with pytest.raises(AttributeError):
        p.decision_threshold_ = 0.3  # no code sets a fitted attribute by hand


def test_a_change_after_the_fit_makes_a_new_state_and_leaves_the_old_one_as_it_was(fitted):
    p, test = fitted
    before = p.state_
    p.set_decision_threshold(0.3)
    try:
        assert p.state_ is not before and p.decision_threshold_ == 0.3 and before.decision_threshold is None
        proba = p.predict_proba(test).to_numpy()
        assert (p.predict(test).to_numpy() == np.where(proba[:, 1] >= 0.3, p.classes_[1], p.classes_[0])).all()
    finally:
        p.set_decision_threshold(None)
    assert p.state_.decision_threshold is None


def test_save_and_load_carry_every_field_of_the_state(fitted, tmp_path):
    p, test = fitted
    p.save(tmp_path / "m")
    q = MultimodalPredictor.load(tmp_path / "m")
    a, b = p.state_, q.state_
    for f in dataclasses.fields(FittedState):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name in ("schema",):
            assert x.to_dict() == y.to_dict()
        elif f.name in ("labels",):
            assert list(x.classes_) == list(y.classes_)
        elif f.name in ("metric",):
            assert x.name == y.name
        elif f.name == "task":
            assert (x.problem_type, x.n_classes) == (y.problem_type, y.n_classes)
        elif f.name == "pipeline":
            assert np.array_equal(x.transform(test).dense, y.transform(test).dense, equal_nan=True)
        elif f.name == "ensembles":
            assert x.active == y.active and x.bagged.weights == y.bagged.weights and y.refit is None
        elif f.name == "oof_index":
            assert len(x) == len(y)
        elif f.name in ("oof_y", "oof_weight"):
            assert (x is None and y is None) or np.array_equal(x, y)
        elif f.name == "folds":
            assert len(x) == len(y) and all(np.array_equal(a_, b_) for fx, fy in zip(x, y) for a_, b_ in zip(fx, fy))
        else:
            assert x == y, f.name
    np.testing.assert_allclose(q.predict_proba(test).to_numpy(), p.predict_proba(test).to_numpy())


def test_an_unfitted_predictor_says_to_fit_or_load_it():
    p = MultimodalPredictor("y")
    with pytest.raises(RuntimeError, match="not fitted yet: call fit"):
        check_fitted(p)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        p.predict(None)
    assert not hasattr(p, "schema_")
