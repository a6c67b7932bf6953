import dataclasses

import numpy as np
import pandas as pd
import pytest

from automm.schema import detect_column, detect_schema, infer_problem_type, split_list

N = 200
rng = np.random.default_rng(0)


def kind(values, name="c"):
    return detect_column(pd.Series(values, name=name))[0]


def test_zip_codes_with_leading_zeros_are_categorical():
    assert kind([f"{z:05d}" for z in rng.integers(0, 99999, N)], "zip") == "categorical"
    assert kind([f"{z:05d}" for z in rng.integers(0, 99999, N)], "shipping_to") == "categorical"


def test_integer_zip_code_by_name_is_categorical():
    assert kind(rng.integers(10000, 99999, N), "zipcode") == "categorical"


def test_plain_numbers_and_numbers_stored_as_text_are_numeric():
    assert kind(rng.normal(size=N)) == "numeric"
    text_numbers = [str(round(v, 2)) for v in rng.normal(size=N)]
    text_numbers[3] = "n/a"  # mixed types: one unparseable entry becomes missing
    assert kind(text_numbers) == "numeric"


def test_ids_are_ignored():
    assert kind([f"user_{i}" for i in range(N)]) == "ignore"
    assert kind(np.arange(N), "customer_id") == "ignore"
    assert kind(rng.integers(0, 10**9, N), "amount") == "numeric"  # unique numbers without an ID name stay


def test_constant_and_all_missing_are_ignored_with_reasons():
    assert detect_column(pd.Series([7] * N)) == ("ignore", "constant")
    assert detect_column(pd.Series([np.nan] * N)) == ("ignore", "all values missing")


def test_mostly_missing_numeric_is_kept():
    v = np.full(N, np.nan)
    v[:10] = rng.normal(size=10)
    k, why = detect_column(pd.Series(v))
    assert k == "numeric" and "missing" in why


def test_short_category_strings_vs_free_text():
    cats = rng.choice(["Dresses", "Tops", "Jackets & Coats"], N)
    assert kind(cats) == "categorical"
    sentences = [" ".join(rng.choice(["good", "fit", "soft", "runs", "small", "love", "it"], 8)) + f" {i}"
                 for i in range(N)]
    assert kind(sentences) == "text"
    multiword_levels = rng.choice(["Sci-Fi & Fantasy", "Crime, Thriller & Mystery", "Romance novels"], N)
    assert kind(multiword_levels) == "categorical"


def test_image_paths_urls_and_lists():
    assert kind([f"images/img_{i}.png" for i in range(N)]) == "image"
    k, why = detect_column(pd.Series([f"https://example.com/p/{i}.JPG" for i in range(N)]))
    assert k == "ignore" and "URL" in why and "download" in why  # never fetched: it would be all blank images
    assert kind([f"a/{i}.jpg;a/{i}_b.jpg" for i in range(N)]) == "image_list"
    assert kind([[f"{i}.png", f"{i}b.png"] for i in range(N)]) == "image_list"
    assert split_list("['a.png', 'b.jpg']") == ["a.png", "b.jpg"]
    assert split_list(np.nan) == []


def test_plain_urls_are_not_images():
    assert kind([f"https://example.com/page/{i}" for i in range(N)]) != "image"


def test_dates_and_booleans():
    dates = pd.date_range("2020-01-01", periods=N).strftime("%Y-%m-%d").tolist()
    assert kind(dates) == "datetime"
    assert kind(pd.date_range("2020-01-01", periods=N)) == "datetime"
    assert kind(rng.random(N) > 0.5) == "categorical"


def test_schema_is_frozen_skips_label_and_can_be_overridden():
    df = pd.DataFrame({"a": rng.normal(size=N), "b": rng.choice(["x", "y"], N), "y": rng.normal(size=N)})
    schema = detect_schema(df, "y", column_types={"a": "categorical"})
    assert [c.name for c in schema.columns] == ["a", "b"]
    assert schema["a"].kind == "categorical" and schema["a"].reason == "set by the user"
    with pytest.raises(dataclasses.FrozenInstanceError):
        schema.label = "z"
    assert detect_schema(df, "y", column_types={"b": "ignore"})["b"].kind == "ignore"
    assert "label 'y'" in schema.table()
    with pytest.raises(ValueError, match="'nope'"):
        detect_schema(df, "y", column_types={"a": "nope"})
    with pytest.raises(ValueError, match="'missing_col'"):
        detect_schema(df, "y", column_types={"missing_col": "text"})


def test_problem_type_inference():
    assert infer_problem_type(pd.Series(["a", "b"] * 50))[0] == "binary"
    assert infer_problem_type(pd.Series(["a", "b", "c"] * 50))[0] == "multiclass"
    assert infer_problem_type(pd.Series(rng.normal(size=N)))[0] == "regression"
    ratings = pd.Series(rng.integers(1, 6, 1000))
    assert infer_problem_type(ratings)[0] == "multiclass"
    assert infer_problem_type(ratings, metric_types=("regression",))[0] == "regression"
    assert infer_problem_type(ratings, "regression")[0] == "regression"
    with pytest.raises(ValueError, match="problem_type"):
        infer_problem_type(ratings, "ranking")
