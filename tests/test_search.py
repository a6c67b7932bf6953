"""Hyperparameter search: it beats a bad default, prunes bad trials, keeps the time budget, resumes."""
import sys
import warnings

import pytest

from automm import MultimodalPredictor
from automm.metrics import get_metric
from automm.models.base import Task
from automm.search import Choice, Int, Real, TuneSettings, search, split_params
from tests.conftest import split

optuna = pytest.importorskip("optuna")
TREES = dict(presets="medium", embeddings=False, num_workers=1)


@pytest.mark.slow
def test_search_beats_a_deliberately_bad_default(binary_df):
    train, test = split(binary_df)
    bad = {"lightgbm": {"learning_rate": Real(1e-4, 0.3, log=True, default=1e-4), "num_boost_round": 60}}
    p = MultimodalPredictor("y", verbosity=0).fit(train, hyperparameters=bad, num_bag_folds=3,
                                                  hyperparameter_tune={"num_trials": 10}, **TREES)
    s = p.info()["models"]["lightgbm_L1"]["search"]
    assert s["trials"] == 10 and s["metric"] == "roc_auc"
    assert s["best_score"] > s["default_score"] + 0.01
    assert s["best_params"]["learning_rate"] > 1e-3
    # every fold reuses the best parameters, and so does the refit on all rows
    fixed = {"lightgbm": {"learning_rate": 1e-4, "num_boost_round": 60}}
    untuned = MultimodalPredictor("y", verbosity=0).fit(train, hyperparameters=fixed, num_bag_folds=3, **TREES)
    assert p.val_score_ > untuned.val_score_ + 0.01
    assert p.evaluate(test)["score"] > untuned.evaluate(test)["score"]
    p.refit_full()
    assert p.models_full_[0].models[0].params["learning_rate"] == pytest.approx(s["best_params"]["learning_rate"])


class Curve:
    """A model whose validation loss after `step` steps is 1 - quality * (1 - 0.9^step): bad
    qualities stay bad at every step, so a pruner can stop them early."""
    search_space = {"quality": Real(0.0, 1.0, default=0.95)}
    report_every, prune_after = 5, 15  # what the search reads of a model (automm.models.BaseModel)
    steps_run: list = []

    def __init__(self, quality=0.5):
        self.quality, self.info = quality, {}

    def run(self, monitor, steps=100) -> float:
        for step in range(steps):
            loss = 1 - self.quality * (1 - 0.9 ** step)
            if monitor(step, loss):
                break
        Curve.steps_run.append((self.quality, step + 1))
        return loss


def test_pruning_stops_bad_trials_early():
    Curve.steps_run = []
    task = Task("binary", 2, get_metric("roc_auc", "binary"), seed=0)
    model, params, summary = search(Curve, {}, lambda m, deadline, monitor: m.run(monitor), task, float("inf"),
                                    float("inf"), TuneSettings(num_trials=25), "curve")
    assert summary["trials"] == 25 and summary["pruned"] >= 5
    pruned = [(q, n) for q, n in Curve.steps_run if n < 100]
    full = [q for q, n in Curve.steps_run if n == 100]
    assert len(pruned) == summary["pruned"]
    # what was pruned was worse than the best trial, and stopped well before the end
    assert max(q for q, _ in pruned) < params["quality"] and max(n for _, n in pruned) <= 60
    assert params["quality"] == max(full) and model.quality == params["quality"]


@pytest.mark.slow
def test_time_budget_holds_with_search(binary_df):
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, time_limit=15, hyperparameter_tune=True,
                                                  hyperparameters={"linear": {}, "lightgbm": {}}, num_bag_folds=2,
                                                  **TREES)
    assert p.fit_time_ <= 15 * 1.05
    assert p.info()["models"]["lightgbm_L1"]["search"]["new_trials"] >= 3  # the search did use the time


@pytest.mark.slow
def test_tight_budget_search_stops_after_the_defaults(binary_df, register):
    """When every fold needs its whole share, the search must not take time from the bagging. The model
    uses its whole time on any machine (on a fast one LightGBM would rightly leave time for more trials)."""
    register("whole_time", "tests.crashing_model:WholeTime", "lightgbm")
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, time_limit=8, hyperparameter_tune=True,
                                                  hyperparameters={"whole_time": {}}, **TREES)
    s = p.info()["models"]["whole_time_L1"]["search"]
    assert s["new_trials"] == 1 and s["best_score"] == s["default_score"]
    from automm.models.lgbm import LightGBMModel
    defaults = {k: v.default for k, v in LightGBMModel.search_space.items() if v.default is not None}
    assert p.models_[0].models[1].params == defaults  # the other folds fit the defaults


@pytest.mark.slow
def test_search_resumes_from_its_storage(binary_df, tmp_path):
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    hp = {"lightgbm": {"num_boost_round": 30}}
    fit = lambda n: MultimodalPredictor("y", verbosity=0).fit(  # noqa: E731
        binary_df, hyperparameters=hp, num_bag_folds=0, hyperparameter_tune={"num_trials": n, "storage": storage},
        **TREES).info()["models"]["lightgbm_L1"]["search"]
    first, second = fit(3), fit(5)
    assert (first["trials"], first["new_trials"]) == (3, 3)
    assert (second["trials"], second["new_trials"]) == (5, 2)  # the 3 earlier trials count
    assert second["study"] == first["study"]
    study = optuna.load_study(study_name=first["study"], storage=storage)
    assert len(study.trials) == 5 and second["best_score"] >= first["best_score"]


def test_fusion_net_search_reports_each_epoch(tmp_path):
    from tests.neural_fixtures import image_table, register_tiny
    register_tiny(tmp_path / "tiny-text")
    df = image_table(tmp_path, 120)
    storage = f"sqlite:///{tmp_path / 'nets.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixture's missing and corrupt images
        p = MultimodalPredictor("y", verbosity=0, image_dir=str(tmp_path), text_backbone="tiny-text",
                                image_backbone="tiny-image").fit(
            df, hyperparameters={"fusion_late": {"max_epochs": 4}}, num_bag_folds=0, num_workers=1,
            hyperparameter_tune={"num_trials": 3, "storage": storage})
    s = p.info()["models"]["fusion_late_L1"]["search"]
    trials = optuna.load_study(study_name=s["study"], storage=storage).trials
    assert len(trials) == 3
    assert all(t.intermediate_values and sorted(t.intermediate_values) == list(range(len(t.intermediate_values)))
               for t in trials)  # one report per epoch, from the first


def test_user_spaces_override_and_fixed_values_leave_the_search():
    space = {"a": Real(0, 1), "b": Int(1, 5), "c": Choice(("x", "y"))}
    fixed, searched = split_params({"a": 0.5, "c": Choice(("y",)), "d": 3}, space)
    assert fixed == {"a": 0.5, "d": 3} and searched == {"b": Int(1, 5), "c": Choice(("y",))}


def test_bad_tuning_arguments_are_refused_before_any_work(binary_df, monkeypatch):
    p = MultimodalPredictor("y", verbosity=0)
    with pytest.raises(ValueError, match="hyperparameter_tune=True"):
        p.fit(binary_df, hyperparameters={"lightgbm": {"num_leaves": Int(4, 64)}})
    with pytest.raises(ValueError, match="unknown keys.*trials"):
        p.fit(binary_df, hyperparameter_tune={"trials": 5})
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"automm\[tune\]"):
        p.fit(binary_df, hyperparameter_tune=True)


def test_search_leaves_the_other_folds_the_time_they_need():
    import time
    task = Task("binary", 2, get_metric("roc_auc", "binary"), seed=0)

    def fit_fold(model, deadline, monitor):
        time.sleep(0.05)  # every trial takes 50 ms
        return model.run(lambda step, loss: False, steps=10)

    start = time.monotonic()
    # the model must be done 1 s from now, and its other folds need 10 times its best trial's time
    _, _, summary = search(Curve, {}, fit_fold, task, float("inf"), float("inf"), TuneSettings(num_trials=100),
                           "reserve", reserve=lambda seconds: start + 1.0 - 10 * seconds)
    assert 3 <= summary["trials"] <= 12  # (1 s - 10 x 50 ms) / 50 ms, give or take the scheduler
    assert time.monotonic() - start < 0.9


@pytest.mark.slow
def test_a_large_fold_is_searched_on_a_sample_and_the_model_kept_trains_on_all_of_it(binary_df, register,
                                                                                     monkeypatch):
    from automm.execution import base
    monkeypatch.setattr(base, "SEARCH_ROWS", 100)
    register("row_counting", "tests.crashing_model:RowCounting", "lightgbm")
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, hyperparameters={"row_counting": {}}, num_bag_folds=2,
                                                  hyperparameter_tune={"num_trials": 3}, **TREES)
    first = p.models_[0].models[0]
    s = first.info.search
    tr = len(binary_df) - len(binary_df) // 2  # the first of 2 folds trains on the other half's rows, or one more
    assert s["trial_rows"] == 100 and s["rows"] in (tr, len(binary_df) // 2) and s["new_trials"] == 3
    assert first.info.extra["train_rows"] == s["rows"]
    assert first.params["learning_rate"] == pytest.approx(s["best_params"]["learning_rate"])
