"""Portfolios: several configurations of a model family, each its own bagged model on the same folds;
and the time a fit's rounds leave, spent on the portfolio's further configurations (anytime.py)."""
import time

import numpy as np
import pytest

from automm import MultimodalPredictor
from automm.portfolio import PORTFOLIO, ModelConfig, model_configs, relative_cost

from .conftest import split


def test_a_list_of_configurations_is_a_model_each_on_the_same_folds(binary_df, tmp_path):
    train, test = split(binary_df)
    hp = {"linear": {}, "lightgbm": [{"n_estimators": 40}, {"n_estimators": 40, "num_leaves": 4, "extra_trees": True}]}
    p = MultimodalPredictor("y", verbosity=0).fit(train, hyperparameters=hp, num_bag_folds=3, embeddings=False)
    assert p.model_names() == ["linear_L1", "lightgbm_L1", "lightgbm_2_L1"]
    models = p.info()["models"]
    assert models["lightgbm_2_L1"]["params"]["num_leaves"] == 4 and "num_leaves" not in models["lightgbm_L1"]["params"]
    assert models["lightgbm_L1"]["folds"] == models["lightgbm_2_L1"]["folds"] == 3
    assert set(p.weights_) == set(p.model_names())  # every configuration reached ensemble selection
    oof_a, oof_b = p.predict_proba_oof("lightgbm_L1"), p.predict_proba_oof("lightgbm_2_L1")
    assert not np.allclose(oof_a.to_numpy(), oof_b.to_numpy())  # two models, not one trained twice
    p.save(tmp_path / "m")
    q = MultimodalPredictor.load(tmp_path / "m")
    assert q.info()["models"]["lightgbm_2_L1"]["params"]["num_leaves"] == 4
    np.testing.assert_allclose(q.predict_proba(test).to_numpy(), p.predict_proba(test).to_numpy(), atol=1e-9)


@pytest.mark.parametrize("given, error", [([], TypeError), ([{}, 3], TypeError), ([{"num_leaves": 8}, {"nonsense": 1}],
                                                                                   ValueError)])
def test_a_bad_list_of_configurations_fails_before_any_work(binary_df, given, error):
    with pytest.raises(error, match="lightgbm"):
        MultimodalPredictor("y", verbosity=0).fit(binary_df, hyperparameters={"lightgbm": given})


def test_the_defaults_train_first_then_the_others_round_robin():
    configs = model_configs(["lightgbm", "linear", "catboost"], {"catboost": {"thread_count": 1}}, None, depth=3)
    planned = [c.name for c in configs if c.planned]
    extra = [c.name for c in configs if not c.planned]
    assert planned == ["lightgbm", "linear", "catboost"]
    assert extra == ["lightgbm" + PORTFOLIO["lightgbm"][1][0], "catboost" + PORTFOLIO["catboost"][1][0],
                     "lightgbm" + PORTFOLIO["lightgbm"][2][0], "catboost" + PORTFOLIO["catboost"][2][0]]
    assert all(c.params.get("thread_count") == 1 for c in configs if c.kind == "catboost")  # the shared ones
    mine = model_configs(["lightgbm"], {}, {"lightgbm": [{"num_leaves": 8}, {"num_leaves": 64}]}, depth=6)
    assert [(c.name, c.planned, c.params) for c in mine] == [("lightgbm", True, {"num_leaves": 8}),
                                                             ("lightgbm_2", True, {"num_leaves": 64})]


def test_a_slower_configuration_is_priced_higher():
    assert relative_cost("lightgbm", {}) == 1.0
    assert relative_cost("lightgbm", {"learning_rate": 0.01}) > 4 * relative_cost("lightgbm", {"learning_rate": 0.05})
    assert relative_cost("xgboost", {"max_depth": 10}) > relative_cost("xgboost", {"max_depth": 5})
    assert relative_cost("linear", {"C": 4.0}) == 1.0
    assert 0.5 <= relative_cost("catboost", {"learning_rate": 0.9, "depth": 2}) <= 6


@pytest.mark.slow  # a fit that runs to the end of its time limit
def test_best_spends_the_time_its_rounds_leave_on_the_portfolio(binary_df, tmp_path):
    train, test = split(binary_df)
    t0 = time.monotonic()
    p = MultimodalPredictor("y", verbosity=0).fit(train, presets="best", time_limit=45, embeddings=False,
                                                  num_bag_folds=3, included_model_types=["linear", "lightgbm"])
    wall = time.monotonic() - t0
    record = p.info()["anytime"]
    assert wall <= 45 * 1.05
    portfolio = {f"lightgbm{suffix}_L1" for suffix, _ in PORTFOLIO["lightgbm"][1:]}
    assert record["trained"] and set(record["trained"]) <= portfolio
    assert set(record["trained"]) <= set(p.model_names())
    if record["left"]:  # every configuration that fitted ran; the rest are named
        assert record["ended"].startswith("time limit")
    else:
        assert record["ended"].startswith("queue empty at")
    stackers = [n for n in p.model_names() if n.endswith("_L2")]
    assert stackers and all(set(record["trained"]) <= set(p.info()["models"][s]["inputs"]) for s in stackers)
    p.save(tmp_path / "m")
    q = MultimodalPredictor.load(tmp_path / "m")
    assert q.info()["anytime"] == record
    np.testing.assert_allclose(q.predict_proba(test).to_numpy(), p.predict_proba(test).to_numpy(), atol=1e-9)


@pytest.mark.slow  # a bagged fit of two models
def test_without_a_time_limit_only_the_planned_models_train(binary_df):
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, presets="best", embeddings=False, num_bag_folds=2,
                                                  included_model_types=["linear", "lightgbm"],
                                                  hyperparameters=None)
    assert p.info()["anytime"] is None
    assert {n.rsplit("_L", 1)[0] for n in p.model_names()} == {"linear", "lightgbm"}


def test_a_config_with_its_own_budget_ends_by_it():
    from automm.ensemble import fit_layer
    from automm.features import FeaturePipeline
    from automm.metrics import get_metric
    from automm.progress import Progress
    from automm.schema import detect_schema
    from automm.synthetic import make_multimodal
    from automm.task import Task
    df = make_multimodal(3000, "binary", seed=4)
    X = FeaturePipeline(detect_schema(df, "y")).fit_transform(df)
    y = (df["y"] == df["y"].unique()[0]).to_numpy().astype(np.int64)
    folds = [(np.arange(0, 3000, 2), np.arange(1, 3000, 2)), (np.arange(1, 3000, 2), np.arange(0, 3000, 2))]
    task = Task("binary", 2, get_metric("roc_auc", "binary"), seed=0, num_threads=1)
    slow = ModelConfig("lightgbm_slow", "lightgbm", {"learning_rate": 0.001, "num_leaves": 255, "min_data_in_leaf": 1},
                       planned=False, budget_s=2.0)
    t0 = time.monotonic()
    bags = fit_layer([slow], X, y, folds, task, time.monotonic() + 120, 1, Progress(0, t0))
    assert bags and bags[0].name == "lightgbm_slow_L1" and bags[0].params["num_leaves"] == 255
    assert any(m.info.hit_deadline for m in bags[0].models)  # cut by its own 2 s, not the layer's 120
    assert time.monotonic() - t0 < 20


@pytest.fixture(scope="module")
def saved_stack(binary_df, tmp_path_factory):
    """A small bagged and stacked fit, saved where it was fitted (path=...)."""
    folder = tmp_path_factory.mktemp("extra") / "m"
    train, test = split(binary_df)
    hp = {"linear": {}, "lightgbm": {"n_estimators": 40}}
    MultimodalPredictor("y", verbosity=0, path=str(folder)).fit(train, hyperparameters=hp, num_bag_folds=3,
                                                                num_stack_levels=1, embeddings=False)
    return folder, train, test


@pytest.mark.slow  # a fit, a load, more models and a save
def test_fit_extra_goes_on_on_the_same_folds_after_a_load_and_restacks(saved_stack):
    folder, train, test = saved_stack
    q = MultimodalPredictor.load(folder)
    before = q.model_names()
    with pytest.raises(ValueError, match="fit_extra needs train_data"):
        q.fit_extra(hyperparameters={"xgboost": {"num_boost_round": 30}})
    q.fit_extra(train, hyperparameters={"lightgbm": [{"n_estimators": 40, "num_leaves": 4}], "xgboost": {"num_boost_round": 30}})
    added = [n for n in q.model_names() if n not in before]
    assert sorted(added) == ["lightgbm_2_L1", "xgboost_L1"]
    info = q.info()
    assert info["models"]["lightgbm_2_L1"]["params"]["num_leaves"] == 4 and info["models"]["xgboost_L1"]["folds"] == 3
    oof_old, oof_new = q.predict_proba_oof("lightgbm_L1"), q.predict_proba_oof("xgboost_L1")
    assert oof_new.notna().all().all() and oof_old.notna().all().all()  # k-fold: every row validated once
    assert set(added) <= set(info["models"]["linear_L2"]["inputs"])  # the stacker reads them now
    assert set(info["anytime"]["fit_extra"][-1]["trained"]) == set(added)
    q.save(folder, overwrite=True)
    again = MultimodalPredictor.load(folder)
    assert again.model_names() == q.model_names()
    np.testing.assert_allclose(again.predict_proba(test).to_numpy(), q.predict_proba(test).to_numpy(), atol=1e-9)
    q.fit_extra(train, time_limit=60)  # the rest of the families' portfolios, in the time given
    record = q.info()["anytime"]["fit_extra"][-1]
    portfolio = {f"{kind}{s}_L1" for kind in ("lightgbm", "xgboost") for s, _ in PORTFOLIO[kind][1:]}
    assert record["trained"] and set(record["trained"]) <= portfolio


def test_fit_extra_refuses_other_data(saved_stack):
    folder, train, _ = saved_stack
    q = MultimodalPredictor.load(folder)
    with pytest.raises(ValueError, match="not those the predictor was fitted on"):
        q.fit_extra(train.assign(y=train["y"].sample(frac=1.0, random_state=0).to_numpy()),
                    hyperparameters={"lightgbm": {"n_estimators": 5}})
    with pytest.raises(ValueError, match="unknown models \\['lightgbn'\\]"):
        q.fit_extra(train, hyperparameters={"lightgbn": {}})


def test_fit_weighted_ensemble_blends_only_the_models_named(saved_stack):
    folder, _, test = saved_stack
    q = MultimodalPredictor.load(folder)
    q.fit_weighted_ensemble(["lightgbm_L1"])
    assert {n for n, w in q.weights_.items() if w > 0} == {"lightgbm_L1"}
    np.testing.assert_allclose(q.predict_proba(test).to_numpy(), q.predict_proba(test, model="lightgbm_L1").to_numpy())
    assert q.val_score_ == pytest.approx(q.leaderboard().set_index("model").loc["lightgbm_L1", "score_val"])
    with pytest.raises(ValueError, match="its models are"):
        q.fit_weighted_ensemble(["catboost_L1"])
