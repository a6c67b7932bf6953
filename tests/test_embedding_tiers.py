"""The embedding plan: the static text tier (distilled once, cached with a checksum, every row embedded
whatever the budget), the transformer tier on top when it fits, repeated texts embedded once, image
sizes chosen from measured speed, and predict using what fit chose."""
import json
import warnings

import numpy as np
import pytest

pytest.importorskip("torch", reason="the neural tests need the neural extra: pip install -e '.[test]'")

from automm import MultimodalPredictor  # noqa: E402
from automm.features.embeddings import TextEmbedder  # noqa: E402
from automm.features.multimodal import EmbeddingFeatures, EmbeddingSettings  # noqa: E402
from automm.features.static_text import static_dir, static_text  # noqa: E402
from automm.schema import detect_schema  # noqa: E402

from .neural_fixtures import image_table, register_tiny  # noqa: E402


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiers")
    register_tiny(folder / "tiny-text")
    return image_table(folder), folder


def _features(df, folder, **settings):
    schema = detect_schema(df, "y")
    emb = EmbeddingFeatures(schema, EmbeddingSettings("tiny-text", "tiny-image", str(folder), **settings))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixture's missing and corrupt images
        return emb, emb.fit_transform(df, None)


def test_static_rows_are_the_mean_of_their_token_vectors(table):
    st = static_text("tiny-text")
    texts = ["great product, loved it", "", "terrible terrible"]
    ids = [st.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    expected = np.stack([st.table[i].mean(0) if i else np.zeros(st.dims, np.float32) for i in ids])
    np.testing.assert_allclose(st.embed(texts), expected, rtol=1e-5, atol=1e-7)
    assert np.abs(expected[0]).sum() > 0  # real tokens, not [UNK] only


def test_the_static_table_is_cached_and_a_damaged_one_is_made_again(table, monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOMM_STATIC_CACHE", str(tmp_path))
    first = static_text("tiny-text").table
    files = list(static_dir().glob("*.npz"))
    assert len(files) == 1 and json.loads(files[0].with_suffix(".json").read_text())["sha256"]
    from automm.features import static_text as module
    distill = module.distill
    monkeypatch.setattr(module, "distill", lambda *a, **k: pytest.fail("distilled again although cached"))
    np.testing.assert_array_equal(static_text("tiny-text").table, first)
    with np.load(files[0]) as z:
        tampered = z["table"].copy()
    tampered[5] += 1
    np.savez(files[0], table=tampered)
    monkeypatch.setattr(module, "distill", distill)
    np.testing.assert_array_equal(static_text("tiny-text").table, first)  # checksum refused it: made again


def test_a_table_that_cannot_be_made_in_time_is_not_started(table, monkeypatch, tmp_path):
    """The first fit on a machine makes the table; one with no time left says so and goes on without text
    embeddings rather than overrun its time limit."""
    import time
    monkeypatch.setenv("AUTOMM_STATIC_CACHE", str(tmp_path))
    with pytest.raises(TimeoutError, match="once per backbone"):
        static_text("tiny-text", deadline=time.monotonic() - 1)
    df, folder = table
    emb = EmbeddingFeatures(detect_schema(df, "y"), EmbeddingSettings("tiny-text", "tiny-image", str(folder)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, neural = emb.fit_transform(df, 0.0)
    assert "text" not in neural or "embedding" not in neural["text"]["all"]
    assert any(line.startswith("text: left out") and "once per backbone" in line for line in emb.plan_)


def test_every_text_row_is_embedded_when_the_budget_is_gone(table):
    """The static tier takes no part of the budget it could miss: even with none left, text is embedded;
    the transformer tier is planned, found not to fit, and said to be skipped."""
    df, folder = table
    static_text("tiny-text")  # distilled once, as a first fit on a machine would have done
    emb, (tree, names, neural) = _features(df, folder, text_tier="transformer")
    assert emb.text_tier_ == "transformer"  # with no budget, the transformer always fits
    emb = EmbeddingFeatures(detect_schema(df, "y"), EmbeddingSettings("tiny-text", "tiny-image", str(folder),
                                                                      text_tier="transformer"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, neural = emb.fit_transform(df, 1e-4)
    assert emb.text_tier_ == "static" and neural["text"]["all"]["embedding"].shape == (len(df), 16)
    assert np.abs(neural["text"]["all"]["embedding"]).sum(1).min() > 0  # every row has words
    assert any("transformer tier" in line and "skipped" in line for line in emb.plan_)


def test_repeated_texts_are_embedded_once(table, monkeypatch):
    embedder = TextEmbedder("tiny-text", max_tokens=16)
    seen = []
    run = embedder._run
    monkeypatch.setattr(embedder, "_run", lambda texts: seen.append(list(texts)) or run(texts))
    out = embedder.embed(["one text", "another text", "one text", "one text"])
    assert seen == [["one text", "another text"]]
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[0], out[3])
    assert not np.array_equal(out[0], out[1])


def test_image_size_shrinks_to_fit_and_predict_uses_it(table, monkeypatch):
    from automm.features.embeddings import ImageEmbedder
    df, folder = table
    monkeypatch.setattr(ImageEmbedder, "sizes", lambda self: (64, 48, 32))
    monkeypatch.setattr(ImageEmbedder, "native_side", lambda self, values, kind: None)  # as if they were large
    # 0.01 s a row at 64 px, a quarter of it at 32: 160 rows fit 1 s only at 32 or 48 px
    monkeypatch.setattr(ImageEmbedder, "seconds_per_row", lambda self, v, k, size, rows=16: 0.01 * (size / 64) ** 2)
    emb = EmbeddingFeatures(detect_schema(df, "y"), EmbeddingSettings("tiny-text", "tiny-image", str(folder),
                                                                      text_tier="static"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, neural = emb.fit_transform(df, 1.2)
        assert emb.image_sizes_["photo"] == 48 and any("48 px" in line for line in emb.plan_)
        again = emb.transform(df.iloc[:20], image_dir=str(folder))[2]
    np.testing.assert_allclose(again["image"]["photo"]["embedding"], neural["image"]["photo"]["embedding"][:20],
                               rtol=1e-5, atol=1e-6)


def test_small_images_are_not_upscaled_beyond_the_next_size(table, monkeypatch):
    from automm.features.embeddings import ImageEmbedder
    df, folder = table
    monkeypatch.setattr(ImageEmbedder, "sizes", lambda self: (64, 48, 32))
    emb, _ = _features(df, folder, text_tier="static")  # no time limit: only the images' own size limits it
    assert emb.image_sizes_["photo"] == 32 and any("about 24 px" in line for line in emb.plan_)


def test_a_predictor_on_the_static_tier_saves_and_loads(table, tmp_path):
    df, folder = table
    p = MultimodalPredictor("y", text_backbone="tiny-text", image_backbone="tiny-image", image_dir=str(folder),
                            verbosity=0, text_tier="static")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.fit(df.iloc[:120], presets="medium", time_limit=60, excluded_model_types=["xgboost", "catboost"])
        before = p.predict_proba(df.iloc[120:])
        p.save(tmp_path / "m")
        loaded = MultimodalPredictor.load(tmp_path / "m")
        np.testing.assert_allclose(loaded.predict_proba(df.iloc[120:]), before, rtol=1e-6, atol=1e-7)
    assert loaded.pipeline_.emb_.text_tier_ == "static"
    assert loaded.info()["embeddings"]["text_tier"] == "static"
    assert "embedding plan:" in loaded.fit_summary() and "static tier of tiny-text" in loaded.fit_summary()


def test_an_unknown_text_tier_is_refused_before_the_fit(table):
    df, _ = table
    with pytest.raises(ValueError, match="text_tier"):
        MultimodalPredictor("y", text_tier="fastest", verbosity=0).fit(df, presets="medium", time_limit=30)


def test_the_token_model_fine_tunes_the_static_table_and_reloads(table, tmp_path):
    """fusion_tokens reads the text as static tokens and trains their vectors: the table moves from the
    distilled one, the text alone separates the classes, and a reloaded predictor predicts the same."""
    import torch
    df, folder = table
    p = MultimodalPredictor("y", text_backbone="tiny-text", image_backbone="tiny-image", image_dir=str(folder),
                            verbosity=0, text_tier="static")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.fit(df.drop(columns=["photo", "x", "color"]), presets="medium", time_limit=90,
              included_model_types=["fusion_tokens"], hyperparameters={"fusion_tokens": {"max_epochs": 15}})
    board = p.leaderboard()
    assert board.set_index("model").loc["fusion_tokens_L1", "score_val"] > 0.65  # chance is 0.5: it reads the reviews
    net = p.models_[0].models[0].net_
    trained = net.encoders["text:all"].backbone.embed.weight.detach().numpy()
    assert not np.allclose(trained, static_text("tiny-text").table)
    test = df.drop(columns=["photo", "x", "color", "y"]).iloc[:30]
    before = p.predict_proba(test)
    p.save(tmp_path / "m")
    np.testing.assert_allclose(MultimodalPredictor.load(tmp_path / "m").predict_proba(test), before, atol=1e-6)
    assert torch.is_tensor(net.encoders["text:all"].backbone.embed.weight)


def _best(folder, **fit):
    p = MultimodalPredictor("y", text_backbone="tiny-text", image_backbone="tiny-image", image_dir=str(folder),
                            verbosity=0, seed=0)
    return p, dict(presets="best", hyperparameters={"linear": {}, "lightgbm": {}}, num_bag_folds=2,
                   num_stack_levels=0, **fit)


def test_time_left_buys_the_text_a_second_round_on_the_transformer_tier(table, tmp_path):
    """With time left over (no limit here), best fits again with the text on the transformer tier and
    keeps the round that validates better; the kept round predicts, saves and loads as itself."""
    df, folder = table
    p, fit = _best(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.fit(df.iloc[:120], **fit)
        second = p.info()["second_round"]
        assert second["ran"] and second["weaker"] == ["the text on the static tier"], second
        assert second["tiers"]["text"] == "transformer" and second["kept"] in ("first", "second")
        assert p.val_score_ == max(second["val_scores"].values()) == second["val_scores"][second["kept"]]
        assert p.pipeline_.emb_.text_tier_ == ("transformer" if second["kept"] == "second" else "static")
        assert p.fit_time_ >= second["seconds"]
        before = p.predict_proba(df.iloc[120:])
        p.save(tmp_path / "m")
        loaded = MultimodalPredictor.load(tmp_path / "m")
        np.testing.assert_allclose(loaded.predict_proba(df.iloc[120:]), before, rtol=1e-6, atol=1e-7)
    assert loaded.info()["second_round"] == second and "second round:" in loaded.fit_summary()


@pytest.mark.parametrize("fault", ["crash", "no time for the transformer"])
def test_a_second_round_that_fails_or_cannot_upgrade_leaves_the_first_as_it_was(table, monkeypatch, fault):
    """A second round never sinks the fit: the first round's models, features and predictions stay,
    exactly as a fit without a second round makes them."""
    from automm.features.embeddings import BudgetExceeded
    df, folder = table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, fit = _best(folder, second_round=False)
        expected = plain.fit(df.iloc[:120], **fit).predict_proba(df.iloc[120:])
        assert plain.info()["second_round"] is None
        if fault == "crash":
            monkeypatch.setattr(TextEmbedder, "embed", lambda self, texts: (_ for _ in ()).throw(MemoryError("boom")))
        else:
            monkeypatch.setattr(TextEmbedder, "choose_limit", lambda self, texts, budget: (_ for _ in ()).throw(
                BudgetExceeded("too slow")))
        p, fit = _best(folder)
        p.fit(df.iloc[:120], **fit)
        second = p.info()["second_round"]
        assert second["ran"] is False and second["kept"] == "first"
        assert ("MemoryError: boom" if fault == "crash" else "did not allow a stronger tier") in second["reason"]
        assert p.pipeline_.emb_.text_tier_ == "static" and [b.name for b in p.models_] == [b.name for b in plain.models_]
        np.testing.assert_allclose(p.predict_proba(df.iloc[120:]), expected, rtol=1e-6, atol=1e-7)


def test_a_second_round_counts_only_if_nothing_got_weaker():
    from automm.second_round import upgraded
    before = {"text": "static", "image 'photo'": 128}
    assert upgraded(before, {"text": "transformer", "image 'photo'": 128})
    assert upgraded(before, {"text": "static", "image 'photo'": 224})
    assert not upgraded(before, {"text": "static", "image 'photo'": 128})
    assert not upgraded(before, {"text": "transformer", "image 'photo'": 96})  # the image shrank
    assert not upgraded(before, {"text": "transformer", "image 'photo'": 0})   # the image was left out


BLOCKED = """
import importlib.abc, sys
BLOCK = ("torch", "transformers", "tokenizers")
class Absent(importlib.abc.MetaPathFinder):  # as in a core install: none of them there
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, Absent())
import numpy as np, pandas as pd
from automm import MultimodalPredictor
p = MultimodalPredictor.load(sys.argv[1])
np.save(sys.argv[3], p.predict_proba(pd.read_csv(sys.argv[2])).to_numpy())
print("imported:", sorted(m for m in BLOCK if m in sys.modules))
"""


@pytest.mark.slow  # a fresh interpreter
def test_a_static_tier_model_predicts_without_torch_tokenizers_or_the_backbone(table, tmp_path):
    """The static tier's tokenizer is saved with the model, so a core install (no torch, no tokenizers, no
    backbone package) predicts a trees-only blend as the full install does, with the same token ids."""
    import subprocess
    import sys
    df, folder = table
    text = df.drop(columns=["photo"])
    p = MultimodalPredictor("y", text_backbone="tiny-text", verbosity=0, text_tier="static")
    p.fit(text.iloc[:120], presets="medium", hyperparameters={"linear": {}, "lightgbm": {}})
    assert p.pipeline_.emb_.text_tier_ == "static"
    p.save(tmp_path / "m")
    text.iloc[120:].to_csv(tmp_path / "rows.csv", index=False)
    out = subprocess.run([sys.executable, "-c", BLOCKED, str(tmp_path / "m"), str(tmp_path / "rows.csv"),
                          str(tmp_path / "pred.npy")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "imported: []" in out.stdout
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), p.predict_proba(text.iloc[120:]).to_numpy(), atol=1e-7)
