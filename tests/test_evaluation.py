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
