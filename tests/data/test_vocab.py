import pytest

from tf_varattn.data.corpora import TASKS, Split
from tf_varattn.data.vocab import (
    EOS_ID,
    GO_ID,
    PAD_ID,
    UNK_ID,
    TaskVocabulary,
    Vocabulary,
    split_sentences,
    tokenize_split,
    tokenize,
    word_tokenize,
)


def test_treebank_tokenization_splits_contractions_and_punctuation():
    assert word_tokenize("I can't go, it's late.") == ["I", "ca", "n't", "go", ",", "it", "'s", "late", "."]


def test_sentence_splitter_keeps_abbreviations_and_initials():
    assert split_sentences("Mr. Smith came. J. R. left! Why?") == ["Mr. Smith came.", "J. R. left!", "Why?"]
    # Treebank only splits the final period of a sentence, so sentence splitting changes the tokens.
    assert word_tokenize("Go home. Now.") == ["Go", "home", ".", "Now", "."]


def test_qgen_filters_punctuation_but_keeps_hyphen_underscore_apostrophe():
    tokens = tokenize('What is the "well-known" snake_case name, Bob\'s?', TASKS["qgen"].filters)
    # Treebank turns the closing quote into '' which survives the filter (as in the reference).
    assert tokens == ["what", "is", "the", "well-known", "''", "snake_case", "name", "bob", "'s"]


def test_dialogue_keeps_comma_period_question_mark():
    tokens = tokenize("Well, I don't know... (maybe) ok?", TASKS["dialogue"].filters)
    assert tokens == ["well", ",", "i", "do", "n't", "know", "...", "maybe", "ok", "?"]


def test_vocabulary_frequency_order_ties_first_seen_and_cap_counts_specials():
    vocab = Vocabulary.fit([["b", "a", "c"], ["a", "d", "c"], ["e"]], max_size=7)
    # a and c occur twice (a first seen before c), then b, d, e once (b first); 3 word slots.
    assert vocab.id_to_token == ["<pad>", "<unk>", "<go>", "<eos>", "a", "c", "b"]
    assert len(vocab) == 7
    assert vocab.encode(["a", "e", "zzz"]) == [4, UNK_ID, UNK_ID]


def test_vocabulary_rejects_cap_below_specials():
    with pytest.raises(ValueError, match="must exceed"):
        Vocabulary.fit([["a"]], max_size=4)


def test_decode_stops_at_eos_or_pad_and_skips_go():
    vocab = Vocabulary(["x", "y"])
    assert vocab.decode([GO_ID, 4, 5, EOS_ID, 4]) == ["x", "y"]
    assert vocab.decode([5, PAD_ID, 4]) == ["y"]


def make_vocab(task):
    split = Split(task, "train", ["w1 w2 w3 w4"], ["q1 q2"])
    return TaskVocabulary.fit(task, [tokenize_split(split, TASKS[task])])


def test_source_truncation_has_no_eos():
    vocab = make_vocab("dialogue")
    tokens = ["w1"] * 25
    assert vocab.encode_source(tokens) == [vocab.source.token_to_id["w1"]] * 20


def test_target_eos_only_when_not_truncated():
    vocab = make_vocab("qgen")
    q1 = vocab.target.token_to_id["q1"]
    assert vocab.encode_target(["q1"] * 20) == [q1] * 20 + [EOS_ID]
    assert vocab.encode_target(["q1"] * 21) == [q1] * 20


def test_qgen_decoding_appends_question_mark_dialogue_does_not():
    qgen, dialogue = make_vocab("qgen"), make_vocab("dialogue")
    ids = qgen.encode_target(["q2", "q1"])
    assert qgen.decode_target(ids) == ["q2", "q1", "?"]
    assert dialogue.decode_target(dialogue.encode_target(["q2", "q1"])) == ["q2", "q1"]


def test_separate_source_and_target_vocabularies_roundtrip_through_json(tmp_path):
    vocab = make_vocab("qgen")
    assert "w1" in vocab.source.token_to_id and "w1" not in vocab.target.token_to_id
    vocab.save(tmp_path / "vocab.json")
    loaded = TaskVocabulary.load(tmp_path / "vocab.json")
    assert loaded.spec == vocab.spec
    assert loaded.source.id_to_token == vocab.source.id_to_token
    assert loaded.target.id_to_token == vocab.target.id_to_token
