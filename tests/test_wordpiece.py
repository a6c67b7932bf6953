"""The plain-Python WordPiece gives the ids the tokenizers library gives for MiniLM's tokenizer.json:
the static tier's tokens in a core install are the full install's."""
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from automm.features.backbones import text_source
from automm.features.wordpiece import WordPiece

from .test_datasets import SHARED, needs_mirror

ODD = ["Café naïve résumé", "日本語のテキスト 中文", "[CLS] hello [SEP] world[MASK]", "a\x00b\ufffdc\u200bd\x0be",
       "x" * 150, "don't stop—ever… «quoted»", "emoji 😀 test", "\u2028line\u2029para\xa0nbsp", "İstanbul ß ǅ",
       "  spaces   ", "", "ﬁne ligature", "a" * 99 + " ok", "tabs\tand\nnewlines\r", "$5.99 (20% off!) #1 @home",
       "Ünïcödé ÀÉÎÕÜ", "ﾟ half-width ｶﾀｶﾅ", "word " * 200]


def _both(max_tokens: int = 128):
    spec = (Path(text_source("minilm")) / "tokenizer.json").read_text()
    fast = Tokenizer.from_str(spec)
    fast.no_padding()
    fast.enable_truncation(max_tokens)
    return fast, WordPiece.from_json(spec, max_tokens)


def test_wordpiece_gives_the_tokenizers_ids_on_odd_text():
    fast, plain = _both()
    expected = [e.ids for e in fast.encode_batch(ODD, add_special_tokens=False)]
    assert plain.encode_batch(ODD) == expected
    assert max(map(len, expected)) == 128  # truncation is part of what is compared


@pytest.mark.slow  # 20,000 texts
@needs_mirror
def test_wordpiece_gives_the_tokenizers_ids_on_the_benchmark_texts():
    import pandas as pd
    df = pd.read_csv(SHARED / "women_clothing_review" / "train.csv")
    texts = [t for c in df.columns if pd.api.types.is_string_dtype(df[c]) for t in df[c].dropna().astype(str)][:20000]
    fast, plain = _both()
    assert plain.encode_batch(texts) == [e.ids for e in fast.encode_batch(texts, add_special_tokens=False)]


def test_a_tokenizer_that_is_not_wordpiece_names_the_package_to_install():
    with pytest.raises(ValueError, match="pip install tokenizers"):
        WordPiece({"model": {"type": "BPE"}, "normalizer": None, "pre_tokenizer": None}, 128)
