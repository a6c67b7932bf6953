"""Metrics (issue 14): the named ones agree with scikit-learn, with and without sample weights;
scikit-learn scorer names and make_scorer objects work; misuse fails before the fit."""
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.metrics import make_scorer

from automm import MultimodalPredictor
from automm.metrics import best_threshold, get_metric, hard, score_at_best_cut

from .conftest import split

RNG = np.random.default_rng(0)
YB = RNG.integers(0, 2, 300)
P1 = np.clip(0.35 + 0.3 * YB + RNG.normal(0, 0.2, 300), 0.01, 0.99)
PB = np.column_stack([1 - P1, P1])
YM = RNG.integers(0, 4, 300)
PM = RNG.dirichlet([1, 1, 1, 1], 300)
YR = RNG.random(300) * 10
PR = (YR + RNG.normal(0, 1, 300)).reshape(-1, 1)
W = RNG.random(300) + 0.2

CASES = [  # (name, problem type, labels, predictions, scikit-learn's value from (y, pred matrix, weights))
    ("average_precision", "binary", YB, PB, lambda y, p, w: skm.average_precision_score(y, p[:, 1], sample_weight=w)),
    ("mcc", "binary", YB, PB, lambda y, p, w: skm.matthews_corrcoef(y, p.argmax(1), sample_weight=w)),
    ("precision", "binary", YB, PB, lambda y, p, w: skm.precision_score(y, p.argmax(1), sample_weight=w)),
    ("recall", "binary", YB, PB, lambda y, p, w: skm.recall_score(y, p.argmax(1), sample_weight=w)),
    ("roc_auc", "binary", YB, PB, lambda y, p, w: skm.roc_auc_score(y, p[:, 1], sample_weight=w)),
    ("f1_macro", "multiclass", YM, PM, lambda y, p, w: skm.f1_score(y, p.argmax(1), average="macro", sample_weight=w)),
    ("f1_micro", "multiclass", YM, PM, lambda y, p, w: skm.f1_score(y, p.argmax(1), average="micro", sample_weight=w)),
    ("f1_weighted", "multiclass", YM, PM,
     lambda y, p, w: skm.f1_score(y, p.argmax(1), average="weighted", sample_weight=w)),
    ("quadratic_kappa", "multiclass", YM, PM,
     lambda y, p, w: skm.cohen_kappa_score(y, p.argmax(1), weights="quadratic", sample_weight=w)),
    ("log_loss", "multiclass", YM, PM, lambda y, p, w: skm.log_loss(y, p, sample_weight=w)),
    ("rmsle", "regression", YR, PR,
     lambda y, p, w: np.sqrt(skm.mean_squared_log_error(y, np.clip(p[:, 0], 0, None), sample_weight=w))),
    ("mape", "regression", YR, PR, lambda y, p, w: skm.mean_absolute_percentage_error(y, p[:, 0], sample_weight=w)),
    ("pinball_loss", "regression", YR, PR, lambda y, p, w: skm.mean_pinball_loss(y, p[:, 0], sample_weight=w)),
    ("mse", "regression", YR, PR, lambda y, p, w: skm.mean_squared_error(y, p[:, 0], sample_weight=w)),
]


@pytest.mark.parametrize("name, ptype, y, p, ref", CASES, ids=[c[0] for c in CASES])
def test_named_metrics_match_scikit_learn(name, ptype, y, p, ref):
    m = get_metric(name, ptype)
    assert m.score(y, p) == pytest.approx(ref(y, p, None))
    assert m.score(y, p, W) == pytest.approx(ref(y, p, W))
    assert m.score(y, p, W) != pytest.approx(m.score(y, p))  # the weights count


def test_scikit_learn_scorers_by_name_and_object():
    classes = np.array(["a", "b", "c", "d"], dtype=object)
    m = get_metric("balanced_accuracy", "multiclass", classes)
    assert m.score(YM, PM) == pytest.approx(skm.balanced_accuracy_score(YM, PM.argmax(1)))
    m = get_metric("neg_mean_absolute_error", "regression")
    assert m.greater_is_better and m.score(YR, PR) == pytest.approx(-skm.mean_absolute_error(YR, PR[:, 0]))
    scorer = make_scorer(skm.fbeta_score, beta=2, pos_label="yes")
    m = get_metric(scorer, "binary", np.array(["no", "yes"], dtype=object))
    assert m.custom and m.score(YB, PB, W) == pytest.approx(skm.fbeta_score(YB, PB.argmax(1), beta=2, sample_weight=W))


def test_f1_is_binary_and_says_what_to_use_for_several_classes():
    with pytest.raises(ValueError, match="f1_macro, f1_micro or f1_weighted"):
        get_metric("f1", "multiclass")


@pytest.mark.parametrize("name", ["f1", "balanced_accuracy", "mcc"])
def test_the_score_at_the_best_cut_is_the_best_over_every_cut(name):
    """The cumulative-count shortcut ensemble selection uses equals trying every cut, ties and weights included."""
    m = get_metric(name, "binary")
    for w in (None, W):
        p1 = np.round(np.clip(0.3 * YB + RNG.random(300) * 0.7, 0, 1), 2)  # rounded: many ties
        every = max(m.score(YB, hard(p1, t), w) for t in np.r_[np.unique(p1), 1.01])
        assert score_at_best_cut(m, YB, np.column_stack([1 - p1, p1]), w) == pytest.approx(every)


def test_best_threshold_beats_or_ties_the_half():
    m = get_metric("f1", "binary")
    y = (RNG.random(400) < 0.15).astype(int)
    p1 = 0.2 * y + RNG.random(400) * 0.4  # positives in 0.2-0.6, negatives in 0-0.4: the best cut is below 0.5
    t = best_threshold(m, y, p1)
    cut = lambda t: np.column_stack([p1 < t, p1 >= t]).astype(float)  # noqa: E731
    assert m.score(y, cut(t)) >= m.score(y, cut(0.5)) and t < 0.5


@pytest.mark.slow
def test_a_scorer_fits_saves_and_reloads(binary_df, tmp_path):
    train, test = split(binary_df)
    scorer = make_scorer(skm.fbeta_score, beta=2, pos_label="yes")
    p = MultimodalPredictor("y", eval_metric=scorer, verbosity=0).fit(train, hyperparameters={"lightgbm": {}},
                                                                      num_bag_folds=2)
    assert p.metric_.name == "fbeta_score"
    assert p.evaluate(test)["score"] == pytest.approx(skm.fbeta_score(test["y"], p.predict(test), beta=2,
                                                                      pos_label="yes"))
    p.save(tmp_path / "m")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = MultimodalPredictor.load(tmp_path / "m")
    assert plain.metric_.name == "roc_auc" and any("scorer of its own" in str(w.message) for w in caught)
    again = MultimodalPredictor.load(tmp_path / "m", eval_metric=scorer)
    assert again.evaluate(test)["score"] == pytest.approx(p.evaluate(test)["score"])


def test_a_plain_function_is_refused_before_the_fit(binary_df):
    with pytest.raises(ValueError, match="make_scorer"):
        MultimodalPredictor("y", eval_metric=lambda y, p: 1.0).fit(binary_df, hyperparameters={"lightgbm": {}})
