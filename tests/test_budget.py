"""The time plan on its own: every rule about sharing the time, checked without fitting anything."""
import math
import pickle
import time

import pytest

from automm.budget import Deadline, TimePlan
from automm.search import SearchJob, TuneSettings


def test_a_deadline_means_the_same_instant_in_another_process():
    d = Deadline.after(30)
    copy = pickle.loads(pickle.dumps(d))  # what a worker process receives
    assert copy == d and 29 < copy.left() <= 30
    assert abs(copy.monotonic() - (time.monotonic() + 30)) < 0.5
    assert Deadline.after(None).left() == math.inf and Deadline.after(None).monotonic() == math.inf
    assert abs(Deadline.from_monotonic(time.monotonic() + 5).left() - 5) < 0.1


def test_the_fit_keeps_a_margin_and_no_limit_means_no_deadline():
    plan = TimePlan.for_fit(100)
    assert plan.fit_deadline(1000.0) == pytest.approx(1000 + 100 * 0.97 - 0.5)
    assert TimePlan.for_fit(None).fit_deadline(1000.0) == math.inf
    assert plan.embed_budget == pytest.approx(30) and plan.embeddings_fit
    short = TimePlan.for_fit(10)  # 3 s for the embeddings: less than loading the backbones takes
    assert short.embed_budget == pytest.approx(3) and not short.embeddings_fit
    assert "no embeddings" in short.describe() and "9.2s of 10s" in short.describe()
    assert TimePlan.for_fit(None).embed_budget is None and TimePlan.for_fit(None).embeddings_fit


def test_layer_one_gets_its_share_only_when_a_stacking_layer_follows():
    plan = TimePlan.for_fit(100)
    end = time.monotonic() + 100
    assert plan.layer_deadline(end, stacking=False) == end
    assert plan.layer_deadline(end, stacking=True) - time.monotonic() == pytest.approx(65, abs=0.1)


def test_models_share_their_layer_by_weight_and_too_little_time_is_skipped():
    plan = TimePlan.for_fit(100)
    end = time.monotonic() + 60
    # three models of weight 1, 1, 1.4 still to start, one slot: the first gets 1/3.4 of the 60 s
    assert plan.model_deadline(end, 1.0, 3.4, 1) - time.monotonic() == pytest.approx(60 / 3.4, abs=0.1)
    assert plan.model_deadline(end, 1.0, 1.0, 2) - time.monotonic() == pytest.approx(60, abs=0.1)  # capped at all
    assert plan.model_deadline(time.monotonic() - 5, 1.0, 2.0, 1) <= time.monotonic()  # past: no negative time
    assert plan.too_short(time.monotonic() + 2, folds=5) and not plan.too_short(time.monotonic() + 3, folds=5)


def test_fold_shares_weigh_a_first_fold_that_tunes_or_searches():
    plan = TimePlan.for_fit(100, search_share=0.5)
    assert plan.fold_weights(5, searching=False, tunes_on_first_fold=False) == [1.0] * 5
    assert plan.fold_weights(5, searching=False, tunes_on_first_fold=True) == [2.0, 1, 1, 1, 1]
    w = plan.fold_weights(5, searching=True, tunes_on_first_fold=True)
    assert w[0] / sum(w) == pytest.approx(0.5 + 0.5 / 5)  # the search's half, and a fold's share of the rest
    end = time.monotonic() + 50
    first = plan.fold_deadline(end, [2.0, 1, 1, 1, 1], 0, parallel=1)
    assert first.left() == pytest.approx(50 * 2 / 6, abs=0.1)
    two_at_once = plan.fold_deadline(end, [1.0] * 5, 1, parallel=2)
    assert two_at_once.left() == pytest.approx(50 * 2 / 4, abs=0.1)


def test_the_search_leaves_the_other_folds_their_time():
    plan = TimePlan.for_fit(100, search_share=0.5)
    assert plan.trial_seconds(40, folds=5) == pytest.approx(8)
    assert plan.trial_seconds(30, folds=1) == pytest.approx(5)
    job = SearchJob(TuneSettings(), "study", 8.0, Deadline.after(40), rest_folds=4, reserve=plan.search_reserve)
    # a best trial of 6 s: the 4 other folds need 1.25 * 4 * 6 = 30 s of the 40 left
    assert job.stop_by(6.0) - time.monotonic() == pytest.approx(10, abs=0.1)
    assert pickle.loads(pickle.dumps(job)) == job


def test_the_plan_is_reported():
    plan = TimePlan.for_fit(300, search_share=0.5)
    d = plan.to_dict()
    assert d["time_limit"] == 300 and d["embed_share"] == 0.3 and d["search_share"] == 0.5
    assert "290.5s of 300s" in plan.describe() and "search takes 50%" in plan.describe()
    assert TimePlan.for_fit(None).describe() == "time plan: no time limit"
    later = time.monotonic() + 30
    assert TimePlan.even_share(later, 3) - time.monotonic() == pytest.approx(10, abs=0.1)


def test_the_rules_that_lived_outside_the_plan_answer_from_it():
    plan = TimePlan.for_fit(100)
    assert plan.second_round_fits(first_round_s=40, left_s=50) and not plan.second_round_fits(40, 49)
    assert plan.second_round_embed_budget(left_s=50, models_s=20) == 25 and plan.second_round_embed_budget(10, 20) == 0
    now = time.monotonic()
    assert plan.another_bag_set(now + 30, 20) and not plan.another_bag_set(now + 10, 20)
    assert plan.embed_budget_now(now + 10) <= 10 and plan.embed_budget_now(now + 1000) == 30
    assert TimePlan.for_fit(None).embed_budget_now(now + 10) is None
