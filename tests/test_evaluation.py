import gzip

import pytest

from tf_varattn.evaluation import DecodingPasses, SplitOutputs, average_runs, sampling_batch_size


def test_outputs_round_trip_keeps_every_token_and_run(tmp_path):
    outputs = SplitOutputs(
        sources=["the war ended in 1783 .", "it rained ."],
        references=[["when", "did", "it", "end", "?"], ["what", "?"]],
        map=[["when", "?"], []],  # an empty output survives
        samples=[[[["a", "?"], ["b", "?"]], [["c"], []]], [[["d"], ["e"]], [["f"], ["g", "h"]]]],
    )
    path = tmp_path / "test_outputs.jsonl.gz"
    outputs.write(path)
    assert SplitOutputs.read(path) == outputs
    assert not list(tmp_path.glob("*.tmp"))


def test_outputs_file_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wt") as stream:
        stream.write('{"source": "s", "reference": "r", "map": "m", "samples": [["a"]]}\n{"source": "s"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl.gz, line 2: not an outputs record"):
        SplitOutputs.read(path)
    with gzip.open(path, "wt") as stream:
        stream.write('{"source": "s", "reference": "r", "map": "m", "samples": [["a"]]}\n'
                     '{"source": "s", "reference": "r", "map": "m", "samples": [["a"], ["b"]]}\n')
    with pytest.raises(ValueError, match="line 2: 2 sampling runs, earlier lines 1"):
        SplitOutputs.read(path)


def test_average_runs_rounds_as_the_tables_print():
    runs = [{"bleu4": 5.01, "entropy": 2.2001}, {"bleu4": 5.04, "entropy": 2.2004}, {"bleu4": 5.10, "entropy": 2.2010}]
    assert average_runs(runs) == {"bleu4": 5.05, "entropy": 2.2005}


def test_sampling_batches_hold_about_ten_times_batch_size_sequences():
    assert sampling_batch_size(10) == 100 and sampling_batch_size(3) == 333 and sampling_batch_size(1) == 1000
    assert sampling_batch_size(10, batch_size=50) == 50 and sampling_batch_size(2000) == 1


def test_decoding_passes_are_reused_only_with_the_same_settings(tmp_path):
    outputs = [[["when", "?"]], [[]]]
    identity = {"checkpoint_sha256": "abc", "split": "test"}
    calls = []

    def decode(result):
        def run():
            calls.append(result)
            return result
        return run

    settings = {"mode": "sample", "seed": 0, "batch_size": 100}
    first = DecodingPasses(tmp_path / "passes", identity)
    assert first.outputs("sample-1-seed0", settings, decode(outputs)) == outputs and calls == [outputs]
    # Another process (a resumed evaluation) reads the pass back instead of decoding it.
    resumed = DecodingPasses(tmp_path / "passes", identity)
    assert resumed.outputs("sample-1-seed0", settings, decode("not called")) == outputs
    assert len(calls) == 1 and resumed.reused == ["sample-1-seed0"]
    # Any other setting or checkpoint decodes again (and replaces the file).
    other = [[["what", "?"]], [["x"]]]
    assert resumed.outputs("sample-1-seed0", {**settings, "seed": 1}, decode(other)) == other
    changed = DecodingPasses(tmp_path / "passes", {**identity, "checkpoint_sha256": "def"})
    assert changed.outputs("sample-1-seed0", settings, decode(outputs)) == outputs and len(calls) == 3
    assert changed.reused == []
    # A damaged file (the process killed while writing) is decoded again.
    path = tmp_path / "passes" / "sample-1-seed0.json.gz"
    path.write_bytes(path.read_bytes()[:20])
    assert DecodingPasses(tmp_path / "passes", {**identity, "checkpoint_sha256": "def"}).outputs(
        "sample-1-seed0", settings, decode(outputs)) == outputs and len(calls) == 4
    changed.clear()
    assert not (tmp_path / "passes").exists()


def test_output_length_and_brevity_penalty_of_all_samples():
    import math

    from tf_varattn.evaluation import output_length

    # 2 + 6 tokens against 4 + 4: c = r, BP 1; 2 tokens against 4: BP exp(1 - 4 / 2).
    assert output_length([list("abcd")], [[list("ab"), list("abcdef")]]) == {"length": 4.0, "brevity_penalty": 1.0}
    assert output_length([list("abcd")], [[list("ab")]]) == {"length": 2.0, "brevity_penalty": round(math.exp(-1), 4)}


def test_released_scoring_drops_the_last_partial_batch_and_uses_raw_word_tokenized_references():
    from tf_varattn.evaluation import rescore, score
    from tf_varattn.metrics import Pooling, bleu_scores, diversity

    raw = ["Hello, world! NUM times.", "Go home now.", "Not scored."]
    outputs = SplitOutputs(
        sources=["s0", "s1", "s2"],
        references=[["hello", ",", "world", "num", "times", "."], ["go", "home", "now", "."], ["not", "scored", "."]],
        map=[["hello", ",", "world", "times"], ["go", "home", "."], ["x"]],
        samples=[[[["hello", "world"], ["hello", "can't"]], [["go", "go", "go"], ["home"]], [["x"], ["y"]]]],
    )
    pooling = Pooling(max_length=3)  # dialogue-like: nothing appended, "go go go" ran to the limit
    ours = rescore(outputs, raw, pooling, "ours", batch_size=2)
    assert ours["inputs"] == 3 and ours["map"] == score(outputs.references, [[o] for o in outputs.map])
    assert ours["sample"] == score(outputs.references, outputs.samples[0], pooling) | {
        k: ours["sample"][k] for k in ("entropy", "dist1", "dist2")}
    released = rescore(outputs, raw, pooling, "reference", batch_size=2)
    # Two inputs (3 - 3 mod 2); references as NLTK tokenizes the raw text (case and "NUM" kept,
    # "!" kept although the vocabulary filters it); hypotheses re-tokenized ("can't" -> ca n't).
    references = [["Hello", ",", "world", "!", "NUM", "times", "."], ["Go", "home", "now", "."]]
    assert released["inputs"] == 2 and released["scoring"] == "reference"
    assert released["map"] == bleu_scores(references, [["hello", ",", "world", "times"], ["go", "home", "."]])
    samples = [[["hello", "world"], ["hello", "ca", "n't"]], [["go", "go", "go"], ["home"]]]
    paired = [references[0]] * 2 + [references[1]] * 2
    pooled = [[["hello", "world"], ["hello", "ca", "n't"]], [["go", "go"], ["home"]]]  # the cut sample loses a word
    expected = {**bleu_scores(paired, [s for per_input in samples for s in per_input]),
                **{k: round(v, 4) for k, v in diversity(pooled, Pooling(max_length=99)).items()}}
    assert released["sample"] == expected
    cut = rescore(outputs, raw, pooling, "reference_cut", batch_size=2, target_limit=3)
    assert cut["map"] == bleu_scores([r[:3] for r in references], [["hello", ",", "world", "times"], ["go", "home", "."]])
    with pytest.raises(ValueError, match="scoring='paper' is not valid"):
        rescore(outputs, raw, pooling, "paper")
    with pytest.raises(ValueError, match="no input left to score"):
        rescore(outputs, raw, pooling, "reference", batch_size=4)
