"""The reference preprocessing: tokenizer, vocabularies, encoding and decoding.

Reproduces the authors' pipeline (``docs/reference-code.md``, "Data preprocessing"):

1. NLTK Treebank word tokenization (``word_tokenize``), re-joined with spaces;
2. a Keras-style tokenizer: lowercase, replace the task's filter characters by
   spaces, split on spaces;
3. vocabularies fit on train+val+test, words in frequency order (ties in
   first-seen order) from id 4 after PAD=0, UNK=1, GO=2, EOS=3, capped at the
   task's size (40k for qgen, 30k for dialogue) *including* the four specials;
4. truncation to the task's source length (30 / 20) and to 20 target tokens
   *before* EOS is appended, so a truncated target has no EOS.

``word_tokenize`` needs NLTK's Punkt model, which is a download; this module uses
the same Treebank tokenizer (:class:`nltk.tokenize.NLTKWordTokenizer`) after a
data-free sentence splitter that, like Punkt, ends a sentence after ``.``, ``!``
or ``?`` followed by white space unless the word is a known abbreviation or a
single letter. It only matters for the dialogue task (qgen sources carry no
sentence punctuation).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Iterable, Optional, Sequence

from nltk.tokenize import NLTKWordTokenizer

from tf_varattn.data.corpora import DataError, Split
from tf_varattn.tasks import TaskSpec, get_task, spec_from_dict, spec_to_dict

PAD_ID, UNK_ID, GO_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<go>", "<eos>")

# Abbreviations after which a period does not end a sentence (a subset of Punkt's English list).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e u.s u.k a.m p.m no inc ltd co corp gen gov sen rep "
    "lt col capt sgt mt ft jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_WORD_TOKENIZER = NLTKWordTokenizer()
# (source token lists, target token lists) of one split.
TokenizedSplit = tuple[list[list[str]], list[list[str]]]


def split_sentences(text: str) -> list[str]:
    """Splits ``text`` after ``.``/``!``/``?`` + white space, keeping abbreviations and initials intact."""
    sentences, start = [], 0
    for match in _SENTENCE_BREAK.finditer(text):
        candidate = text[start:match.start()].rstrip()
        last_word = candidate.rsplit(None, 1)[-1] if candidate.split() else ""
        stem = last_word.rstrip(".\"')]").lower()
        if last_word.endswith(".") and (stem in _ABBREVIATIONS or len(stem) == 1):
            continue
        sentences.append(text[start:match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def word_tokenize(text: str) -> list[str]:
    """Treebank word tokenization of each sentence (NLTK ``word_tokenize`` without Punkt data)."""
    return [token for sentence in split_sentences(text) for token in _WORD_TOKENIZER.tokenize(sentence)]


def tokenize(text: str, filters: str, keep_first: Optional[int] = None, lowercase: bool = True) -> list[str]:
    """Reference tokenization: Treebank tokens joined by spaces, then lowercase, filter, split.
    ``keep_first``: only the first that many Treebank tokens, before filtering (the released code)."""
    joined = " ".join(word_tokenize(text)[:keep_first])
    joined = joined.lower() if lowercase else joined
    return joined.translate(str.maketrans({c: " " for c in filters})).split()


@dataclasses.dataclass(frozen=True)
class EncodingRules:
    """Where the released code's tokenizing and encoding differ from ours, one switch each
    (``docs/reference-code.md``, last section; all off is ours):

    - ``truncate_before_filter``: keep the first N Treebank tokens, then filter (the vocabulary
      then counts only words inside them); ours filters first and cuts the ids to N.
    - ``source_eos``: sources get EOS too (an attended position); ours: no source EOS.
    - ``eos_then_truncate``: EOS appended, then the ids cut to N, so a sequence of N tokens has
      none; ours cuts to N first, so N tokens keep their EOS."""

    truncate_before_filter: bool = False
    source_eos: bool = False
    eos_then_truncate: bool = False

    @classmethod
    def of(cls, config) -> "EncodingRules":
        return cls(config.truncate_before_filter, config.source_eos, config.eos_then_truncate)


class Vocabulary:
    """Word <-> id mapping with PAD=0, UNK=1, GO=2, EOS=3 and words from id 4."""

    def __init__(self, words: Sequence[str]):
        self.id_to_token = list(SPECIAL_TOKENS) + list(words)
        self.token_to_id = {token: index for index, token in enumerate(self.id_to_token)}
        if len(self.token_to_id) != len(self.id_to_token):
            raise ValueError("Vocabulary words must be unique and must not repeat the special tokens.")

    @classmethod
    def fit(cls, token_lists: Iterable[Sequence[str]], max_size: int) -> "Vocabulary":
        """Words by descending frequency, ties in first-seen order, ``max_size`` ids in all."""
        if max_size <= len(SPECIAL_TOKENS):
            raise ValueError(f"max_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {max_size}.")
        counts = collections.Counter()
        for tokens in token_lists:
            counts.update(tokens)
        # Counter keeps first-insertion order and sorted() is stable: ties stay in first-seen order.
        words = [w for w, _ in sorted(counts.items(), key=lambda item: -item[1]) if w not in SPECIAL_TOKENS]
        return cls(words[: max_size - len(SPECIAL_TOKENS)])

    def __len__(self) -> int:
        return len(self.id_to_token)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; out-of-vocabulary words become UNK."""
        return [self.token_to_id.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first EOS (or PAD), skipping GO."""
        tokens = []
        for index in ids:
            index = int(index)
            if index in (EOS_ID, PAD_ID):
                break
            if index != GO_ID:
                tokens.append(self.id_to_token[index])
        return tokens


class TaskVocabulary:
    """Source and target vocabularies of one task with the reference encode/decode rules."""

    def __init__(self, spec: TaskSpec, source: Vocabulary, target: Vocabulary, rules: EncodingRules = EncodingRules()):
        self.spec, self.source, self.target, self.rules = spec, source, target, rules

    def with_rules(self, rules: EncodingRules) -> "TaskVocabulary":
        """The same vocabularies, encoding by ``rules`` (a run's, from its config)."""
        return TaskVocabulary(self.spec, self.source, self.target, rules)

    @classmethod
    def fit(cls, task, tokenized_splits: Iterable[TokenizedSplit], vocab_size: Optional[int] = None) -> "TaskVocabulary":
        """Fits separate encoder and decoder vocabularies on tokenized splits (the paper: train+val+test;
        the task's ``vocabulary_splits``). ``task``: a :class:`TaskSpec`, or a task's name."""
        spec = task if isinstance(task, TaskSpec) else get_task(task)
        tokenized = list(tokenized_splits)
        size = vocab_size or spec.vocab_size
        source = Vocabulary.fit((tokens for sources, _ in tokenized for tokens in sources), size)
        target = Vocabulary.fit((tokens for _, targets in tokenized for tokens in targets), size)
        return cls(spec, source, target)

    def tokenize(self, text: str, limit: Optional[int] = None) -> list[str]:
        """Tokens of ``text`` (a source unless ``limit`` says otherwise: the length it is cut to)."""
        keep_first = (limit or self.spec.max_source_length) if self.rules.truncate_before_filter else None
        return tokenize(text, self.spec.filters, keep_first, self.spec.lowercase)

    def _encode(self, vocabulary: Vocabulary, tokens: Sequence[str], limit: int, eos: bool) -> list[int]:
        if not eos:
            return vocabulary.encode(tokens[:limit])
        if self.rules.eos_then_truncate:
            return (vocabulary.encode(tokens[:limit]) + [EOS_ID])[:limit]
        ids = vocabulary.encode(tokens[:limit])
        return ids + [EOS_ID] if len(tokens) <= limit else ids

    def encode_source(self, tokens: Sequence[str]) -> list[int]:
        """Source ids, truncated to ``max_source_length``; no EOS (``rules.source_eos``: with EOS)."""
        return self._encode(self.source, tokens, self.spec.max_source_length, self.rules.source_eos)

    def encode_target(self, tokens: Sequence[str]) -> list[int]:
        """Target ids truncated to ``max_target_length``; EOS appended only if nothing was cut
        (``rules.eos_then_truncate``: only if there are fewer than ``max_target_length`` tokens)."""
        return self._encode(self.target, tokens, self.spec.max_target_length, True)

    def decode_target(self, ids: Iterable[int]) -> list[str]:
        """Generated target tokens; for qgen the stripped ``?`` is appended back."""
        tokens = self.target.decode(ids)
        return tokens + ["?"] if self.spec.append_question_mark else tokens

    def save(self, path: os.PathLike) -> None:
        payload = {
            "task": self.spec.name,
            "spec": spec_to_dict(self.spec),  # how this vocabulary's text is read and tokenized
            "source": self.source.id_to_token[len(SPECIAL_TOKENS):],
            "target": self.target.id_to_token[len(SPECIAL_TOKENS):],
        }
        Path(path).write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: os.PathLike) -> "TaskVocabulary":
        """The vocabulary a run saved; a damaged file is a :class:`DataError` naming it."""
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
            # Written before specs were saved: the named task's.
            spec = spec_from_dict(payload["spec"]) if "spec" in payload else get_task(payload["task"])
            if not all(isinstance(payload[side], list) and all(isinstance(t, str) for t in payload[side])
                       for side in ("source", "target")):
                raise TypeError("its source and target are not lists of tokens")
            return cls(spec, Vocabulary(payload["source"]), Vocabulary(payload["target"]))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
            raise DataError(f"{path} is damaged ({type(error).__name__}: {error}); restore it from a copy: training "
                            "wrote it once, and a run's word ids mean nothing without it.") from None


def tokenize_split(split: Split, spec: TaskSpec, truncate_before_filter: bool = False) -> TokenizedSplit:
    """Tokenized sources and targets of a split; a sentence that recurs is tokenized once
    (in the dialogue data most replies are also the next pair's line). With
    ``truncate_before_filter`` each keeps only its first N Treebank tokens (N: the task's source
    or target length) before filtering, as the released code did."""
    cache: dict[tuple[str, Optional[int]], list[str]] = {}

    def cached(text: str, limit: int) -> list[str]:
        key = (text, limit if truncate_before_filter else None)
        if key not in cache:
            cache[key] = tokenize(text, spec.filters, key[1], spec.lowercase)
        return list(cache[key])

    return ([cached(text, spec.max_source_length) for text in split.sources],
            [cached(text, spec.max_target_length) for text in split.targets])
