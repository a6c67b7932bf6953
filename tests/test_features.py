import numpy as np
import pandas as pd

from automm.features import FeaturePipeline
from automm.features.tabular import CategoricalEncoder
from automm.features.text import HashedTfidf, text_stats
from automm.schema import detect_schema


def test_hashed_tfidf_bounds_columns_and_repeats_itself():
    texts = pd.Series([f"word{i % 50} word{i % 7} shared" for i in range(300)])
    vec = HashedTfidf("word", (1, 2), max_features=20)
    fitted = vec.fit_transform(texts)
    assert fitted.shape == (300, 20)
    again = vec.transform(texts)
    assert abs(fitted - again).max() == 0
    norms = np.sqrt(np.asarray(again.multiply(again).sum(1))).ravel()
    assert np.allclose(norms[norms > 0], 1, atol=1e-5)


def test_hashed_ngrams_are_scikit_learns_bucket_for_bucket(monkeypatch):
    """The numpy word and character n-grams count what HashingVectorizer counts, in the same buckets
    (a model saved with scikit-learn's buckets reads the same columns), for accents, CJK, emoji, odd
    whitespace, punctuation, short words and empty texts; also across the split of a long chunk."""
    from sklearn.feature_extraction.text import HashingVectorizer

    from automm.features import hashed_ngrams
    rng = np.random.default_rng(0)
    alphabet = list("abcdeXYZé日😀 \t\n.,!'_") + ["\u2003", "\u00a0", "ab", "bc"]
    texts = ["Hello  World!", "", "   ", "a", "I am\tHERE\n\nnow", "Ünïcödé wörds ÅÄÖ", "日本語のテキスト です",
             "emoji 😀😀 ok", "İstanbul ß ﬁ", "x" * 40] + ["".join(rng.choice(alphabet, rng.integers(0, 80)))
                                                        for _ in range(500)]
    monkeypatch.setattr(hashed_ngrams, "MAX_CHARS", 5000)  # the texts go in several pieces
    for analyzer, ngram_range in [("char_wb", (2, 4)), ("char_wb", (1, 3)), ("char_wb", (5, 6)), ("word", (1, 2)),
                                  ("word", (1, 1)), ("word", (2, 3))]:
        want = HashingVectorizer(analyzer=analyzer, ngram_range=ngram_range, n_features=2**18, alternate_sign=False,
                                 norm=None, dtype=np.float32, token_pattern=r"(?u)\b\w+\b").transform(texts)
        got = hashed_ngrams.ngram_counts(texts, analyzer, ngram_range, 2**18)
        assert got.shape == want.shape and (got != want).nnz == 0 and got.nnz == want.nnz > 1000
        keep = np.sort(rng.choice(2**18, 3000, replace=False))
        assert (hashed_ngrams.ngram_counts(texts, analyzer, ngram_range, 2**18, keep) != want[:, keep]).nnz == 0


def test_categorical_encoder_rare_unseen_and_missing():
    enc = CategoricalEncoder(min_count=2).fit(pd.Series(["a", "a", "b", "b", "c", None]))
    codes = enc.transform(pd.Series(["a", "b", "c", "zzz", None]))
    assert codes[0] != codes[1]
    assert codes[2] == codes[3] == len(enc.levels_)  # rare and unseen share the 'other' code
    assert np.isnan(codes[4])


def test_categorical_keys_survive_int_float_reading():
    enc = CategoricalEncoder(min_count=1).fit(pd.Series([1, 2, 2, 3]))
    as_float = enc.transform(pd.Series([1.0, 2.0, np.nan]))
    assert as_float[0] == enc.transform(pd.Series([1]))[0] and not np.isnan(as_float[1])


def test_text_stats_keep_missing_distinct_from_empty():
    stats = text_stats(pd.Series(["Hello World!", "", None]))
    assert stats[0, 0] == 12 and stats[0, 1] == 2
    assert stats[1, 0] == 0 and np.isnan(stats[2, 0]) and stats[2, -1] == 1


def test_pipeline_transform_matches_fit_and_state_round_trips(binary_df):
    schema = detect_schema(binary_df, "y")
    pipe = FeaturePipeline(schema)
    fitted = pipe.fit_transform(binary_df)
    again = pipe.transform(binary_df)
    assert np.array_equal(fitted.dense, again.dense, equal_nan=True)
    assert abs(fitted.linear - again.linear).max() < 1e-6
    meta, arrays = pipe.get_state()
    restored = FeaturePipeline.from_state(schema, meta, arrays).transform(binary_df)
    assert np.array_equal(restored.dense, again.dense, equal_nan=True)
    assert len(fitted.cat_cols) >= 2  # color and the zip code
    assert any(n.startswith("review.svd") for n in fitted.names)


def test_pipeline_does_not_modify_input(binary_df):
    before = binary_df.copy()
    FeaturePipeline(detect_schema(binary_df, "y")).fit_transform(binary_df)
    pd.testing.assert_frame_equal(before, binary_df)


def test_datetime_and_image_columns_become_features():
    df = pd.DataFrame({"when": ["2021-03-04", "2022-12-25", None, "2020-01-01"] * 10,
                       "photo": ["a.png", None, "b.jpg", "c.png"] * 10,
                       "y": [0, 1] * 20})
    schema = detect_schema(df, "y")
    assert schema["when"].kind == "datetime" and schema["photo"].kind == "image"
    fs = FeaturePipeline(schema).fit_transform(df)
    year = fs.dense[:, fs.names.index("when.year")]
    assert year[0] == 2021 and np.isnan(year[2])
    assert fs.dense[:, fs.names.index("photo.present")].tolist()[:4] == [1, 0, 1, 1]


def test_a_modality_is_one_class_that_the_pipeline_and_schema_use(monkeypatch):
    """A featurizer registered for a modality is what the pipeline runs for its columns, saved and
    loaded with its own state; its detect rule claims columns before the built-in rules."""
    from automm.features import modalities
    from automm.features.modalities import Block, ColumnFeatures, ColumnOutput, register_modality
    from automm.schema import Modality

    class Weekday(ColumnFeatures):
        kind, order = Modality.DATETIME, 30

        @classmethod
        def detect(cls, values):
            return "weekday names" if values.astype(str).str.endswith("day").all() else None

        def fit(self, values, settings, say=lambda m: None, deadline=float("inf")):
            self.days_ = sorted(set(values))
            return self

        def transform(self, values):
            return ColumnOutput([Block(values.map(self.days_.index).to_numpy(float).reshape(-1, 1), [f"{self.column}.n"])])

        def get_state(self):
            return {"days": self.days_}, {}

        @classmethod
        def from_state(cls, column, meta, arrays):
            obj = cls(column)
            obj.days_ = meta["days"]
            return obj

    monkeypatch.setitem(modalities.MODALITIES, Modality.DATETIME, Weekday)
    df = pd.DataFrame({"d": ["Monday", "Tuesday", "Sunday"] * 20, "x": np.arange(60.0), "y": [0, 1] * 30})
    assert detect_schema(df, "y")["d"].reason != "weekday names"  # the pure detector knows only the built-ins
    schema = detect_schema(df, "y", detectors=modalities.detectors())
    assert schema["d"].kind == Modality.DATETIME and schema["d"].reason == "weekday names"
    pipe = FeaturePipeline(schema)
    X = pipe.fit_transform(df)
    assert "d.n" in X.names and sorted(set(X.dense[:, X.names.index("d.n")])) == [0.0, 1.0, 2.0]
    meta, arrays = pipe.get_state()
    again = FeaturePipeline.from_state(schema, meta, arrays).transform(df)
    assert np.array_equal(again.dense, X.dense, equal_nan=True)
    register_modality(modalities.datetime.DatetimeFeatures)  # the built-in back (monkeypatch also restores it)
