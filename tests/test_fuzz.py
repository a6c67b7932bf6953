"""Random frames (issue 27): mixed and extension dtypes, NaN and inf, empty, very long and unicode
strings, duplicate and odd column names, constant and all-missing columns, one row per class, labels
of every dtype. fit then predict either works or stops with automm's own clear error (raised by
automm's code, naming what to change) before any model is trained: never another library's
traceback, never a hang. A fitted model also predicts the same frame with its columns in another
order, with an extra column, and as pandas reads it back from a CSV."""
import io
import signal
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from automm import MultimodalPredictor  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1] / "automm"
FAST_EXAMPLES, SLOW_EXAMPLES = 25, 300
TEXT = st.one_of(st.text(max_size=12), st.just(""), st.text(alphabet="ab ", min_size=300, max_size=2000),
                 st.sampled_from(["naïve café", "日本語のテキスト", "emoji 🙂 here", "a\nb\tc", "\x00nul", "  "]))
NAMES = st.one_of(st.text(min_size=1, max_size=8), st.sampled_from(["", " ", "a b", "列", "0", "y ", "__index__",
                                                                     "Unnamed: 0", "a\nb", "__automm_label__"]))


def _column(draw, kind: str, n: int) -> pd.Series:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    holes = rng.random(n) < draw(st.sampled_from([0.0, 0.2, 1.0]))  # none, some or all missing
    if kind == "float":
        v = rng.normal(size=n) * draw(st.sampled_from([1.0, 1e12, 1e-9]))
        v[rng.random(n) < 0.1] = draw(st.sampled_from([np.inf, -np.inf, np.nan]))
        v[holes] = np.nan
        return pd.Series(v)
    if kind == "Int64":
        return pd.Series(pd.array(rng.integers(-5, 5, n), dtype="Int64")).mask(holes)
    if kind == "boolean":
        return pd.Series(pd.array(rng.random(n) < 0.5, dtype="boolean")).mask(holes)
    if kind == "category":
        return pd.Series(rng.choice(["red", "green", "blue"], n)).astype("category").mask(holes)
    if kind in ("string", "string[pyarrow]", "object"):
        words = [draw(TEXT) for _ in range(min(n, 6))] or [""]
        values = [words[i % len(words)] + (f" {i}" if draw(st.booleans()) else "") for i in range(n)]
        s = pd.Series(values, dtype=kind if kind != "object" else object)
        return s.mask(holes)
    if kind == "datetime_tz":
        t = pd.Series(pd.date_range("2021-01-01", periods=n, freq="37h", tz="Europe/Paris"))
        return t.mask(holes)
    if kind == "constant":
        return pd.Series([draw(st.sampled_from([1, "same", 0.5]))] * n)
    return pd.Series([draw(st.sampled_from([1, "x", 2.5, None, True])) for _ in range(n)], dtype=object)  # mixed


KINDS = ["float", "Int64", "boolean", "category", "string", "string[pyarrow]", "object", "datetime_tz",
         "constant", "mixed"]
LABELS = ["bool", "boolean", "int", "Int64", "float", "string", "category", "object", "one_per_class"]


def _label(draw, kind: str, n: int) -> pd.Series:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind in ("bool", "boolean"):
        return pd.Series(rng.random(n) < 0.5, dtype=kind)
    if kind in ("int", "Int64"):
        return pd.Series(rng.integers(0, draw(st.sampled_from([2, 3, 6])), n), dtype="int64" if kind == "int" else kind)
    if kind == "float":
        return pd.Series(rng.normal(size=n))
    if kind == "one_per_class":
        return pd.Series([f"c{i}" for i in range(n)])
    values = rng.choice(["yes", "no", "maybe"][: draw(st.sampled_from([2, 3]))], n)
    return pd.Series(values, dtype={"string": "string", "category": "category", "object": object}[kind])


@st.composite
def frames(draw):
    n = draw(st.sampled_from([1, 3, 8, 30, 60, 60]))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    names: list[str] = []
    for _ in kinds:
        name = draw(NAMES)
        names.append(name if name not in names else f"{name}{len(names)}")
    if draw(st.integers(0, 4)) == 0 and len(names) > 1:
        names[1] = names[0]  # a duplicate name
    df = pd.concat([_column(draw, k, n).rename(c) for k, c in zip(kinds, names)], axis=1)
    label = _label(draw, draw(st.sampled_from(LABELS)), n)
    if draw(st.booleans()):
        label = label.mask(np.random.default_rng(n).random(n) < 0.1)  # some labels missing
    return df.assign(**{"target": label.to_numpy()}) if "target" not in names else df


class Hung(Exception):
    pass


def _raised_by_automm(exc: BaseException) -> bool:
    frames_ = traceback.extract_tb(exc.__traceback__)
    return bool(frames_) and Path(frames_[-1].filename).resolve().is_relative_to(PACKAGE)


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap():
    """Each fit collects garbage once; the test session's heap of earlier fits need not be walked each time."""
    import gc
    gc.freeze()
    yield
    gc.unfreeze()


def _check(df: pd.DataFrame):
    def hung(*_):
        raise Hung("a fit of a few dozen rows ran past 60 s")
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _fit_and_predict(df)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _fit_and_predict(df: pd.DataFrame):
    p = MultimodalPredictor("target", verbosity=0)
    try:
        p.fit(df, presets="fast", hyperparameters={"lightgbm": {"n_estimators": 20}, "linear": {}})
    except (ValueError, TypeError) as exc:
        assert _raised_by_automm(exc), "".join(traceback.format_exception(exc))
        assert not getattr(p, "models_", None), f"refused after training: {exc}"
        return
    X = df.drop(columns="target")
    n = len(X)
    pred = p.predict(X)
    assert len(pred) == n
    assert p.predict(X[X.columns[::-1]]).equals(pred) if X.columns.is_unique else True
    assert len(p.predict(X.assign(extra_column_never_seen=1))) == n
    try:
        again = pd.read_csv(io.StringIO(X.to_csv(index=False)))  # the dtypes pandas gives the same CSV
    except pd.errors.ParserError:  # pandas cannot read its own CSV (a "\r" in a column name is not quoted)
        return
    # not when the CSV itself loses something: "" comes back as "Unnamed: 0", a row of one empty cell is skipped
    if list(again.columns) == list(X.columns) and len(again) == n:
        assert len(p.predict(again)) == n


COMMON = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
              database=None)


@settings(max_examples=FAST_EXAMPLES, **COMMON)
@given(frames())
def test_random_frames_fit_and_predict_or_get_a_clear_error(df):
    _check(df)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **COMMON)  # derandomised too: CI sees the same 300 frames each run
@given(frames())
def test_many_more_random_frames(df):
    _check(df)


def test_found_by_the_fuzz_a_text_column_whose_n_grams_all_fall_below_min_df():
    """Eight rows of text that share no word: no n-gram reaches min_df, the text model has no columns,
    and scikit-learn's normalize refused the empty matrix, stopping the fit."""
    words = ["òλ", "ж2", "ñq", "ζx", "ŧu", "ßk", "ħw", "ŋv"]
    df = pd.DataFrame({"words": words, "x": np.arange(8.0), "target": [True, False] * 4})
    p = MultimodalPredictor("target", verbosity=0, column_types={"words": "text"}).fit(df, presets="fast")
    assert len(p.predict(df.drop(columns="target"))) == 8
