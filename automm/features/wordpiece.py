"""A BERT WordPiece tokenizer in plain Python, read from a tokenizer.json: the static text tier's
tokenizer where neither `tokenizers` nor the backbone's package is installed (the core install that
serves a trees-only model). It gives the ids the `tokenizers` library gives for the same file, without
special tokens: BertNormalizer, BertPreTokenizer, WordPiece, the added tokens matched first.
"""
from __future__ import annotations

import json
import re
import unicodedata


class WordPiece:
    def __init__(self, spec: dict, max_tokens: int):
        model, norm, pre = spec.get("model", {}), spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}
        if model.get("type") != "WordPiece" or norm.get("type") != "BertNormalizer" or \
                pre.get("type") != "BertPreTokenizer":
            raise ValueError("only BERT WordPiece tokenizers (BertNormalizer, BertPreTokenizer, WordPiece) can be "
                             "read without the tokenizers library: pip install tokenizers")
        self.vocab: dict[str, int] = model["vocab"]
        self.unk = self.vocab[model["unk_token"]]
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_chars = model.get("max_input_chars_per_word", 100)
        self.clean, self.chinese = norm.get("clean_text", True), norm.get("handle_chinese_chars", True)
        self.lowercase = norm.get("lowercase", True)
        self.strip_accents = self.lowercase if norm.get("strip_accents") is None else norm["strip_accents"]
        self.max_tokens = max_tokens
        added = sorted((t["content"] for t in spec.get("added_tokens", [])), key=len, reverse=True)
        self.added = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
        self.added_re = re.compile("|".join(map(re.escape, added))) if added else None

    @classmethod
    def from_json(cls, text: str, max_tokens: int) -> "WordPiece":
        return cls(json.loads(text), max_tokens)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        pos = 0
        for m in self.added_re.finditer(text) if self.added_re else ():
            ids += self._plain(text[pos:m.start()])
            ids.append(self.added[m.group()])
            pos = m.end()
        ids += self._plain(text[pos:])
        return ids[: self.max_tokens]

    def encode_batch(self, texts) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    # ---- the three steps ---------------------------------------------------------------------------
    def _plain(self, text: str) -> list[int]:
        out: list[int] = []
        for word in _split(self._normalize(text)):
            out += self._pieces(word)
        return out

    def _normalize(self, text: str) -> str:
        if self.clean:
            text = "".join(" " if _is_space(c) else c for c in text if not _is_control_or_bad(c))
        if self.chinese:
            text = "".join(f" {c} " if _is_cjk(ord(c)) else c for c in text)
        if self.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        return text.lower() if self.lowercase else text

    def _pieces(self, word: str) -> list[int]:
        if len(word) > self.max_chars:
            return [self.unk]
        out, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            out.append(found)
            start = end
        return out


def _split(text: str) -> list[str]:
    """BertPreTokenizer: whitespace splits, and every punctuation character is a word of its own."""
    words, current = [], []
    for c in text:
        if c.isspace():
            if current:
                words.append("".join(current))
                current = []
        elif _is_punct(c):
            if current:
                words.append("".join(current))
                current = []
            words.append(c)
        else:
            current.append(c)
    if current:
        words.append("".join(current))
    return words


def _is_space(c: str) -> bool:
    return c.isspace()


def _is_control_or_bad(c: str) -> bool:
    if c == "\x00" or c == "\ufffd":
        return True
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_punct(c: str) -> bool:
    o = ord(c)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(o: int) -> bool:
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2A6DF or 0x2A700 <= o <= 0x2B73F
            or 0x2B740 <= o <= 0x2B81F or 0x2B920 <= o <= 0x2CEAF or 0xF900 <= o <= 0xFAFF or 0x2F800 <= o <= 0x2FA1F)
