"""explain(): per-column importance with intervals, per-row contributions that add up to the prediction
(sampling for any model, TreeSHAP for a regression blend of trees), partial dependence, the diagnostics
and the text n-grams; the plots; the model card as Markdown and as one HTML file opened in Chromium;
progress bars."""
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from automm import MultimodalPredictor
from automm.progress import log_to_file

from .browser import open_page
from .conftest import split

FAST = {"linear": {}, "lightgbm": {}}


@pytest.fixture(scope="module")
def binary(binary_df):
    train, test = split(binary_df)
    p = MultimodalPredictor("y", verbosity=0).fit(train, hyperparameters=FAST, embeddings=False)
    return p, test


@pytest.fixture(scope="module")
def explained(binary):
    p, test = binary
    return p.explain(test, time_limit=8)


def test_contributions_add_up_to_the_probability_and_find_the_signal(binary, explained):
    p, test = binary
    ex = explained
    assert ex.method == "sampling" and ex.paths >= 2 and ex.explained == "the probability of 'yes'"
    assert set(ex.contributions.index) <= set(test.index) and len(ex.contributions) == min(100, len(test))
    assert list(ex.contributions.columns) == p.schema_.used_columns
    proba = p.predict_proba(test.loc[ex.contributions.index])["yes"]
    np.testing.assert_allclose(ex.prediction, proba, atol=1e-9)
    assert ex.additivity_error() < 1e-6
    np.testing.assert_allclose(ex.contributions.sum(axis=1) + ex.base, proba, atol=1e-6)
    size = ex.contributions.abs().mean()
    assert set(size.nlargest(2).index) == {"review", "x"}  # the two columns the label is made of
    # x raises the probability of "yes": its contribution follows its value
    assert np.corrcoef(ex.values["x"], ex.contributions["x"])[0, 1] > 0.8


def test_importance_has_intervals_and_p_values(explained):
    imp = explained.importance
    assert list(imp.columns) == ["type", "importance", "stddev", "ci_low", "ci_high", "p_value", "n"]
    assert imp.index[0] in ("review", "x") and imp.loc["review", "type"] == "text"
    for col in ("review", "x"):
        assert imp.loc[col, "ci_low"] > 0 and imp.loc[col, "p_value"] < 0.01
    assert imp.loc["noise", "p_value"] > imp.loc["x", "p_value"]
    assert (imp.ci_low <= imp.ci_high).all() and (imp.n >= 1).all()


def test_dependence_diagnostics_and_ngrams(binary, explained):
    p, test = binary
    ex = explained
    curve = ex.partial_dependence[(ex.partial_dependence.column == "x") & (ex.partial_dependence.row == -1)]
    assert curve.prediction.iloc[-1] - curve.prediction.iloc[0] > 0.2  # rises with x
    colour = ex.partial_dependence[(ex.partial_dependence.column == "color") & (ex.partial_dependence.row == -1)]
    assert colour.set_index("value").prediction.idxmax() == "red"  # red adds to the score
    assert ex.confusion_matrix.to_numpy().sum() == len(test)
    assert list(ex.confusion_matrix.index) == ["no", "yes"] and set(ex.per_class.columns) >= {"precision", "recall"}
    hard = (p.predict(test) == "yes").sum()
    assert ex.confusion_matrix["yes"].sum() == hard
    assert ex.calibration["count"].sum() == len(test)
    assert 0 <= ex.calibration.mean_predicted.min() and ex.calibration.mean_predicted.max() <= 1
    review = ex.ngrams[ex.ngrams.column == "review"].set_index("ngram").effect
    from automm.synthetic import NEGATIVE, POSITIVE
    assert all(set(g.split()) & set(POSITIVE) for g in review.nlargest(3).index), review.nlargest(3)
    assert all(set(g.split()) & set(NEGATIVE) for g in review.nsmallest(3).index), review.nsmallest(3)


@pytest.mark.slow  # fits XGBoost beside LightGBM
def test_tree_blend_gets_exact_tree_shap_that_agrees_with_sampling(regression_df):
    train, test = split(regression_df)
    p = MultimodalPredictor("y", verbosity=0).fit(train, hyperparameters={"lightgbm": {}, "xgboost": {}},
                                                  embeddings=False)
    tree = p.explain(test, rows=test.index[:60], importance=False, dependence=False, time_limit=10)
    assert tree.method == "tree" and isinstance(tree.base, float)
    np.testing.assert_allclose(tree.prediction, p.predict(test.iloc[:60]), atol=1e-9)
    assert tree.additivity_error() < 1e-5  # the boosters' float32 sums
    sampled = p.explain(test, rows=test.index[:60], importance=False, dependence=False, method="sampling",
                        time_limit=10)
    assert sampled.method == "sampling" and sampled.additivity_error() < 1e-9
    for col in ("x", "review"):
        assert np.corrcoef(tree.contributions[col], sampled.contributions[col])[0, 1] > 0.9
    assert tree.residuals is not None and tree.confusion_matrix is None
    np.testing.assert_allclose(tree.residuals.residual, tree.residuals.label - tree.residuals.prediction)


@pytest.mark.slow  # a fit of its own
def test_multiclass_rows_are_explained_for_their_own_class_or_the_one_asked(multiclass_df):
    train, test = split(multiclass_df)
    p = MultimodalPredictor("y", verbosity=0).fit(train, hyperparameters=FAST, embeddings=False)
    ex = p.explain(test, rows=test.index[:30], importance=False, dependence=False, time_limit=6)
    proba = p.predict_proba(test.iloc[:30])
    assert isinstance(ex.base, pd.Series) and ex.additivity_error() < 1e-6
    np.testing.assert_allclose(ex.prediction, proba.max(axis=1), atol=1e-9)
    assert set(ex.contributions_by_class) == set(p.classes_)
    row = test.index[3]
    one = p.explain_row(test, row, class_="low", time_limit=3)
    assert one.contributions.index.tolist() == [row] and one.explained == "the probability of 'low'"
    assert one.contributions.loc[row].sum() + one.base == pytest.approx(proba.loc[row, "low"], abs=1e-6)
    assert list(one.row(row).abs()) == sorted(one.row(row).abs(), reverse=True)


def test_bad_arguments_name_what_to_give(binary):
    p, test = binary
    with pytest.raises(KeyError, match="not in the data's index"):
        p.explain(test, rows=[10**9])
    with pytest.raises(KeyError, match="class_ 'maybe' is not a class"):
        p.explain(test, rows=test.index[:2], class_="maybe", importance=False, dependence=False)
    with pytest.raises(ValueError, match="method='tree' needs a regression blend"):
        p.explain(test, rows=test.index[:2], method="tree")
    with pytest.raises(KeyError, match="not input columns"):
        p.feature_importance(test, features=["nope"])
    with pytest.raises(KeyError, match="not in this predictor"):
        p.explain(test, model="catboost_L1")
    with pytest.raises(ValueError, match="format must be"):
        p.fit_summary(format="html")


def test_one_model_is_explained_on_its_own(binary):
    p, test = binary
    ex = p.explain(test, rows=test.index[:10], model="lightgbm_L1", importance=False, dependence=False)
    np.testing.assert_allclose(ex.prediction, p.predict_proba(test.iloc[:10], model="lightgbm_L1")["yes"])
    assert ex.additivity_error() < 1e-6


def test_every_plot_draws(explained, tmp_path):
    figs = explained.figures()
    assert {"Permutation importance", "Contributions by input column", "Partial dependence", "Confusion matrix",
            "Calibration", "Contributions to one row"} <= set(figs)
    for name, fig in figs.items():
        assert fig.axes and any(ax.has_data() for ax in fig.axes), name
        fig.savefig(tmp_path / "f.png")
    with pytest.raises(ValueError, match="no residuals"):
        explained.plot_residuals()


def test_the_model_card_as_markdown_names_every_column_and_model(binary):
    p, _ = binary
    text = p.fit_summary(format="markdown")
    for heading in ("## Model", "## Columns", "## Time", "## Embeddings", "## Models", "## Provenance"):
        assert heading in text
    for col in p.schema_.columns:
        assert f"| {col.name} | {col.kind} |" in text
    for name in p.model_names():
        assert f"| {name} |" in text


@pytest.mark.slow  # a browser process
def test_the_report_opens_in_chromium_with_every_image_and_no_fetch(binary, explained, tmp_path):
    p, test = binary
    p.save(tmp_path / "m")
    path = tmp_path / "report.html"
    p.report(path, data=test, explanation=explained)
    page = open_page(path, screenshot=tmp_path / "report.png")
    assert page["requests"] == [path.resolve().as_uri()]  # the file itself, nothing else
    assert len(page["images"]) >= 8 and all(ok for ok, _ in page["images"]), page["images"]
    assert page["headings"] == ["Model", "Columns", "Time", "Embeddings", "Models", "Explanation", "Provenance"]
    html = path.read_text()
    assert p.digest_ in html and "http://" not in html and "https://" not in html
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.slow  # a browser process
def test_the_browser_check_sees_a_fetch_and_a_broken_image(tmp_path):
    """The report test's own check can fail: a page that loads an image from elsewhere."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><h2>x</h2><img src="http://127.0.0.1:9/a.png"></body></html>')
    seen = open_page(page)
    assert "http://127.0.0.1:9/a.png" in seen["requests"] and seen["images"] == [(False, 0)]


def test_progress_bars_go_to_the_terminal_and_never_to_the_log_file(binary, tmp_path, capsys):
    from automm.progress import bar, bars
    p, test = binary
    handler = log_to_file(str(tmp_path / "fit.log"))
    try:
        p.progress_bar = True
        p.feature_importance(test, num_shuffle_sets=2)
        err = capsys.readouterr().err
        assert "automm importance" in err and "/2 [" in err
        with bars(True), bar(total=2, desc="step") as b:
            b.update(1)
            logging.getLogger("automm").info("a line beside a bar")
            b.update(1)
        err = capsys.readouterr().err
        assert "a line beside a bar\n" in err  # whole, on its own line, the bar drawn again below it
        p.progress_bar = False
        p.feature_importance(test, num_shuffle_sets=2)
        assert "automm importance" not in capsys.readouterr().err
        p.progress_bar = None  # not a notebook: no bar
        p.feature_importance(test, num_shuffle_sets=2)
        assert "automm importance" not in capsys.readouterr().err
    finally:
        p.progress_bar = None
        logging.getLogger("automm").removeHandler(handler)
        handler.close()
    log = (tmp_path / "fit.log").read_text()
    assert "a line beside a bar" in log and "automm importance" not in log and "█" not in log and "\r" not in log


def test_a_saved_model_keeps_its_timeline(binary, tmp_path):
    p, _ = binary
    q = MultimodalPredictor.load(p.save(tmp_path / "m"))
    starts = {b.name: b.started_at for b in q.models_}
    assert starts == {b.name: b.started_at for b in p.models_} and all(s is not None for s in starts.values())


@pytest.mark.slow  # two CLI processes
def test_cli_report_and_explain(binary, tmp_path):
    p, test = binary
    p.save(tmp_path / "m")
    test.to_csv(tmp_path / "test.csv", index=False)
    run = subprocess.run([sys.executable, "-m", "automm", "report", "--model", str(tmp_path / "m"), "--data",
                          str(tmp_path / "test.csv"), "--out", str(tmp_path / "r.html"), "--time-limit", "30"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Explanation" in (tmp_path / "r.html").read_text()
    run = subprocess.run([sys.executable, "-m", "automm", "explain", "--model", str(tmp_path / "m"), "--data",
                          str(tmp_path / "test.csv"), "--rows", "5", "--out", str(tmp_path / "c.csv")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    c = pd.read_csv(tmp_path / "c.csv")
    assert len(c) == 5 and {"base", "prediction", "review", "x"} <= set(c.columns)
    np.testing.assert_allclose(c[p.schema_.used_columns].sum(axis=1) + c.base, c.prediction, atol=1e-6)


def test_dependence_sets_an_integer_column_to_integers_and_a_float32_one_to_its_grid():
    """Found on imdb's Year: a quantile between two years (2011.5) cannot be put in an int64 column;
    the grid of an integer column is integers, and any other numeric column is set as float64."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"year": rng.integers(2000, 2020, 300), "score": rng.normal(size=300).astype(np.float32),
                       "flag": rng.random(300) > 0.5})
    df["y"] = np.where(df.year + 3 * df.score > 2010, "hi", "lo")
    p = MultimodalPredictor("y", verbosity=0).fit(df, presets="fast", hyperparameters={"lightgbm": {}})
    pd_frame = p.explain(df.head(40), rows=[], importance=False, features=["year", "score", "flag"]).partial_dependence
    years = pd_frame[pd_frame.column == "year"].value
    assert len(years) and all(float(v).is_integer() for v in years)
    assert pd_frame[pd_frame.column == "score"].value.nunique() > 2  # not rounded to float32's or bool's few values
    means = pd_frame[(pd_frame.column == "year") & (pd_frame.row == -1)].sort_values("value").prediction.to_numpy()
    assert means[-1] != means[0]  # the model moves with the year
