import json
import time

import numpy as np
import pandas as pd
import pytest

from automm import MultimodalPredictor
from automm.persistence import ModelFormatError

from .conftest import split

FAST = {"linear": {}, "lightgbm": {}}


@pytest.fixture(scope="module")
def stacked(binary_df):
    """A bagged, stacked fit with every model type: what save/load must reproduce."""
    from automm.features.static_text import static_text
    static_text("minilm")  # made once per machine (27 s here): a 40 s fit leaves no time for it (test_embedding_tiers)
    train, test = split(binary_df)
    from automm.presets import PRESETS
    every = {m: {} for m in [*PRESETS["best"]["models"], "fusion_tokens"]}  # best left the token net out
    p = MultimodalPredictor(label="y", verbosity=0).fit(train, presets="best", time_limit=40, num_bag_folds=3,
                                                        hyperparameters=every)
    return p, test


@pytest.mark.slow
def test_fit_returns_self_and_predicts_in_the_label_type(stacked):
    p, test = stacked
    pred = p.predict(test)
    assert set(pred.unique()) <= {"yes", "no"} and len(pred) == len(test)
    assert (pred.index == test.index).all()
    proba = p.predict_proba(test)
    assert list(proba.columns) == ["no", "yes"] and np.allclose(proba.sum(axis=1), 1)
    assert p.evaluate(test)["roc_auc"] > 0.85
    assert {b.layer for b in p.models_} == {1, 2}


@pytest.mark.slow  # the stacked best fit of every model takes 30 s
def test_ensemble_is_at_least_the_best_single_model_out_of_fold(stacked):
    p, _ = stacked
    board = p.leaderboard()
    ensemble = board.loc[board.model == "ensemble", "score_val"].iloc[0]
    assert ensemble >= board.loc[board.model != "ensemble", "score_val"].max() - 1e-12


@pytest.mark.slow  # the stacked best fit of every model takes 30 s
def test_leaderboard_with_test_data_has_scores_and_speed(stacked):
    p, test = stacked
    board = p.leaderboard(test)
    assert {"model", "score_val", "score_test", "fit_time", "pred_time_test", "rows_per_s"} <= set(board.columns)
    assert board["score_test"].notna().all() and (board["rows_per_s"] > 0).all()
    assert len(board) == len(p.models_) + 1


@pytest.mark.slow  # the stacked best fit of every model takes 30 s
def test_save_load_round_trip_is_exact(stacked, tmp_path):
    p, test = stacked
    p.save(tmp_path / "m")
    q = MultimodalPredictor.load(tmp_path / "m")
    pd.testing.assert_frame_equal(p.predict_proba(test), q.predict_proba(test), check_exact=True)
    assert q.leaderboard().equals(p.leaderboard())
    manifest = json.loads((tmp_path / "m" / "automm.json").read_text())
    assert "lightgbm" in manifest["libraries"] and manifest["automm_version"]
    assert not list((tmp_path / "m").rglob("*.pkl"))


@pytest.mark.slow  # the stacked best fit of every model takes 30 s
def test_save_refuses_to_overwrite(stacked, tmp_path):
    p, _ = stacked
    p.save(tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        p.save(tmp_path / "m")
    p.save(tmp_path / "m", overwrite=True)
    user_dir = tmp_path / "notes"
    user_dir.mkdir()
    (user_dir / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an automm model"):
        p.save(user_dir, overwrite=True)
    assert (user_dir / "keep.txt").read_text() == "mine"


@pytest.mark.slow  # the stacked best fit of every model takes 30 s
def test_tampered_or_incompatible_model_is_refused(stacked, tmp_path):
    p, _ = stacked
    p.save(tmp_path / "m")
    model_file = next((tmp_path / "m" / "models").glob("lightgbm_L1.fold0*"))
    model_file.write_text(model_file.read_text().replace("num_leaves", "num_leaveZ", 1))
    with pytest.raises(ModelFormatError, match="checksum"):
        MultimodalPredictor.load(tmp_path / "m")
    p.save(tmp_path / "v", overwrite=True)
    manifest = json.loads((tmp_path / "v" / "automm.json").read_text())
    manifest["format_version"] = 999
    (tmp_path / "v" / "automm.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="format 999"):
        MultimodalPredictor.load(tmp_path / "v")
    with pytest.raises(ModelFormatError, match="not a saved automm model"):
        MultimodalPredictor.load(tmp_path)


@pytest.mark.slow  # the stacked best fit of every model takes 30 s
def test_feature_importance_finds_the_text_signal(stacked):
    p, test = stacked
    imp = p.feature_importance(test, num_shuffle_sets=2)
    assert imp.loc["review", "type"] == "text"
    assert imp.index[0] in ("review", "x")  # the two columns that carry signal
    assert imp.loc["review", "importance"] > imp.loc["noise", "importance"]


@pytest.mark.slow
def test_text_carries_signal_the_model_uses(binary_df):
    train, test = split(binary_df)
    with_text = MultimodalPredictor("y", verbosity=0).fit(train, presets="fast", hyperparameters=FAST)
    no_text = MultimodalPredictor("y", verbosity=0, column_types={"review": "ignore"}).fit(
        train, presets="fast", hyperparameters=FAST)
    assert with_text.evaluate(test)["roc_auc"] > no_text.evaluate(test)["roc_auc"] + 0.05


@pytest.mark.slow
@pytest.mark.parametrize("fixture,metric", [("multiclass_df", "accuracy"), ("regression_df", "r2")])
def test_multiclass_and_regression(fixture, metric, request):
    train, test = split(request.getfixturevalue(fixture))
    p = MultimodalPredictor("y", eval_metric=metric, verbosity=0).fit(train, presets="medium", time_limit=20,
                                                                      num_bag_folds=3)
    score = p.evaluate(test)[metric]
    assert score > (0.6 if metric == "accuracy" else 0.5)
    if metric == "r2":
        assert p.predict(test).dtype == float
        with pytest.raises(ValueError, match="regression"):
            p.predict_proba(test)
    else:
        assert p.predict_proba(test).shape == (len(test), 3)


@pytest.mark.slow
def test_time_limit_is_honoured(regression_df):
    big = pd.concat([regression_df] * 4, ignore_index=True)
    start = time.monotonic()
    MultimodalPredictor("y", verbosity=0).fit(big, presets="best", time_limit=15)
    assert time.monotonic() - start < 15 * 1.05 + 3


def test_user_frame_is_not_modified(binary_df):
    before = binary_df.copy()
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, presets="fast", hyperparameters=FAST)
    p.predict(binary_df)
    pd.testing.assert_frame_equal(before, binary_df)


def test_extra_columns_ignored_and_missing_columns_named(binary_df):
    train, test = split(binary_df)
    p = MultimodalPredictor("y", verbosity=0).fit(train, presets="fast", hyperparameters=FAST)
    extra = test.assign(unrelated=1)
    assert (p.predict(extra) == p.predict(test)).all()
    with pytest.raises(KeyError, match="'review'"):
        p.predict(test.drop(columns=["review"]))
    assert len(p.predict(test.drop(columns=["y", "id", "constant"]))) == len(test)  # unused ones may go


@pytest.mark.slow
def test_missing_labels_are_dropped_and_seed_makes_fits_repeatable(binary_df):
    train, test = split(binary_df)
    train = train.copy()
    train.loc[:9, "y"] = None
    a = MultimodalPredictor("y", verbosity=0, seed=3).fit(train, presets="fast", hyperparameters=FAST)
    b = MultimodalPredictor("y", verbosity=0, seed=3).fit(train, presets="fast", hyperparameters=FAST)
    pd.testing.assert_frame_equal(a.predict_proba(test), b.predict_proba(test))


def test_verbosity_zero_is_quiet_and_default_reports_progress(binary_df, capsys):
    MultimodalPredictor("y", verbosity=0).fit(binary_df, presets="fast", hyperparameters=FAST)
    assert capsys.readouterr().err == ""
    MultimodalPredictor("y", verbosity=2).fit(binary_df, presets="fast", hyperparameters=FAST, time_limit=30)
    err = capsys.readouterr().err
    assert "lightgbm_L1 fold 1/1" in err and "s left" in err and "review" in err  # schema table, steps


def test_failing_model_is_left_out(binary_df, monkeypatch):
    from automm.models import lgbm

    def boom(*a, **k):
        raise RuntimeError("simulated crash")
    monkeypatch.setattr(lgbm.LightGBMModel, "fit", boom)
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, presets="fast", hyperparameters=FAST)
    assert [b.kind for b in p.models_] == ["linear"]


@pytest.mark.slow
def test_refit_full_trains_one_model_per_bag_and_keeps_the_original(binary_df, tmp_path):
    train, test = split(binary_df)
    p = MultimodalPredictor("y", verbosity=0).fit(train, presets="best", time_limit=30, num_bag_folds=3)
    bagged = p.predict_proba(test)
    p.refit_full()
    assert p.inference_ == "refit" and p.models_full_
    assert all(len(b.models) == 1 for b in p.models_full_)
    needed = {n for n, w in p.weights_.items() if w > 0}
    assert needed <= {b.name for b in p.models_full_}
    boosted = [b for b in p.models_full_ if b.kind == "lightgbm" and b.layer == 1]
    if boosted:  # the fold models' mean iteration count
        folds = next(b for b in p.models_ if b.name == boosted[0].name).models
        assert boosted[0].models[0].info.iterations == round(np.mean([m.info.iterations for m in folds]))
    refit = p.predict_proba(test)
    assert not refit.equals(bagged) and p.evaluate(test)["roc_auc"] > 0.85
    board = p.leaderboard(test)
    assert {"ensemble", "ensemble_FULL"} <= set(board.model) and board["score_test"].notna().all()
    p.save(tmp_path / "m")
    q = MultimodalPredictor.load(tmp_path / "m")
    pd.testing.assert_frame_equal(q.predict_proba(test), refit, check_exact=True)
    pd.testing.assert_frame_equal(q.set_inference("bagged").predict_proba(test), bagged, check_exact=True)
    with pytest.raises(ValueError, match="needs train_data"):
        q.refit_full()
    with pytest.raises(ValueError, match="fitted on"):
        q.refit_full(train.iloc[:50])
    q.refit_full(train)
    pd.testing.assert_frame_equal(q.predict_proba(test), refit, check_exact=True)  # deterministic
    with pytest.raises(ValueError, match="'bagged' or 'refit'"):
        q.set_inference("fast")


def test_submission_frame_and_inputs_people_have(binary_df, tmp_path):
    train, test = split(binary_df)
    train.to_parquet(tmp_path / "train.parquet")
    p = MultimodalPredictor("y", verbosity=0).fit(str(tmp_path / "train.parquet"), presets="fast",
                                                  hyperparameters=FAST)
    sub = p.submission(test, id_column="id")
    assert list(sub.columns) == ["id", "y"] and (sub["id"] == test["id"]).all()
    assert list(p.submission(test, proba=True).columns) == ["yes"]  # binary: the positive class
    assert list(p.submission(test, proba=True, as_multiclass=True).columns) == ["no", "yes"]
    with pytest.raises(KeyError, match="'ID'"):
        p.submission(test, id_column="ID")
    import pyarrow as pa
    assert (p.predict(pa.Table.from_pandas(test)).to_numpy() == p.predict(test).to_numpy()).all()


def test_polars_frames_are_accepted(binary_df):
    pl = pytest.importorskip("polars")
    train, test = split(binary_df)
    p = MultimodalPredictor("y", verbosity=0).fit(pl.from_pandas(train), presets="fast", hyperparameters=FAST)
    assert (p.predict(pl.from_pandas(test)).to_numpy() == p.predict(test).to_numpy()).all()
    assert p.evaluate(pl.from_pandas(test))["roc_auc"] > 0.8


@pytest.mark.slow  # the stacked best fit of every model takes 30 s
def test_best_preset_stacks_the_fusion_nets_on_text_embeddings(stacked):
    p, test = stacked
    kinds = {b.kind for b in p.models_ if b.layer == 1}
    assert {"fusion_late", "fusion_early", "fusion_tokens"} <= kinds
    # the default text backbone (MiniLM) embedded the reviews, on the static tier on a CPU
    assert p.pipeline_.emb_.text_tier_ == "static" and p.pipeline_.emb_.static_.dims == 256
    assert any(n.startswith("text.emb") for n in p.pipeline_.transform(test).names)


@pytest.mark.slow
def test_a_stack_on_shuffled_labels_validates_at_chance(binary_df):
    """The ensemble is chosen on out-of-fold scores: a stacker that saw its own rows' labels (through
    in-fold predictions, or features fitted with the label) would validate far above chance here.
    The same fit on the real labels shows that the check can tell."""
    shuffled = binary_df.assign(y=np.random.default_rng(0).permutation(binary_df["y"].to_numpy()))
    settings = dict(presets="best", hyperparameters=FAST, num_bag_folds=3, embeddings=False, time_limit=60)
    scores = {}
    for name, df in (("shuffled", shuffled), ("real", binary_df)):
        board = MultimodalPredictor(label="y", eval_metric="roc_auc", verbosity=0, seed=0).fit(df, **settings).leaderboard()
        scores[name] = board.set_index("model").score_val
    stacked = scores["shuffled"][scores["shuffled"].index.str.endswith("_L2")]
    assert len(stacked) == 2 and stacked.max() < 0.62, scores["shuffled"]  # chance is 0.5 (sd about 0.026 here)
    assert scores["real"][scores["real"].index.str.endswith("_L2")].min() > 0.85, scores["real"]
