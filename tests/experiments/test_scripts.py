"""The experiment scripts end to end, as a user runs them (subprocesses, tiny synthetic data)."""

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tf_varattn.evaluation import SplitOutputs, average_runs, score
from tf_varattn.metrics import Pooling

ROOT = Path(__file__).resolve().parents[2]
TINY_FLAGS = ["--embedding_dim=16", "--encoder_units=8", "--decoder_units=16", "--latent_dim=4",
              "--attentional_dim=8", "--batch_size=16", "--eval_subset=10", "--num_samples=3",
              "--word2vec_epochs=2", "--max_decode_length=8"]


SERVER = None  # this worker's script server (conftest.py)


@pytest.fixture(autouse=True)
def _scripts_through_the_server(script_server):
    """Scripts run as their own processes, forked from a server with TensorFlow imported
    (tests/script_server.py): directly through run(), and through reproduce.sh (env)."""
    global SERVER
    SERVER = script_server


def run(script, *args, env=None, check=True):
    """``python experiments/SCRIPT ARGS`` as its own process (forked from the script server)."""
    result = SERVER.run(ROOT / "experiments" / script, *args, env=env, cwd=ROOT)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def kill_script(process):
    """SIGKILL to the script a ``SERVER.start`` process runs, unless it has ended; waits for its end."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it may end just before the signal
            os.kill(process.script_pid(), signal.SIGKILL)
    process.wait()


@pytest.fixture
def env(synthetic_data_dir, script_server):
    return {**os.environ, "VARATTN_DATA_DIR": str(synthetic_data_dir), "TF_CPP_MIN_LOG_LEVEL": "3",
            **script_server.environment}


def test_killed_run_resumes_to_the_same_history_and_test_numbers(tmp_path, env):
    flags = ["--task=qgen", "--model=ved_vattn_mean", "--epochs=3", *TINY_FLAGS]
    # The uninterrupted run takes its settings from a --flagfile.
    flagfile = tmp_path / "tiny.flags"
    flagfile.write_text("\n".join(flags) + "\n")
    run("train.py", f"--flagfile={flagfile}", f"--output_dir={tmp_path / 'full'}", env=env)
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    assert (config["preset"], config["epochs"], config["latent_dim"], config["batch_size"]) == ("ved_vattn_mean", 3, 4, 16)
    # Killed at a random moment inside an epoch, with a checkpoint after every batch.
    killed = tmp_path / "killed"
    process = SERVER.start(ROOT / "experiments" / "train.py", *flags, "--checkpoint_minutes=0", f"--output_dir={killed}",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    deadline = time.time() + 600  # a loaded machine starts TensorFlow slowly
    while not list((killed / "checkpoints" / "mid_epoch").glob("step-*.index")) and process.poll() is None \
            and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 1.5))
    kill_script(process)
    assert not (killed / "checkpoints" / "epoch-3.index").exists(), "the run finished before it could be killed"
    resumed = run("train.py", *flags, f"--output_dir={killed}", env=env)
    assert "Resuming" in resumed.stdout + resumed.stderr, "killed before its first mid-epoch checkpoint"
    strip = lambda h: [{k: v for k, v in e.items() if not k.endswith("_seconds")} for e in h]
    histories = [json.loads((d / "history.json").read_text()) for d in (tmp_path / "full", killed)]
    assert strip(histories[0]) == strip(histories[1]) and len(histories[0]) == 3
    run("evaluate.py", f"--run_dir={tmp_path / 'full'}", "--num_samples=3", env=env)
    # The evaluation killed after its MAP pass and first sampling pass resumes after them.
    process = SERVER.start(ROOT / "experiments" / "evaluate.py", f"--run_dir={killed}", "--num_samples=3",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    first_pass = killed / "test_evaluation_progress" / "sample-3-seed0.json.gz"
    deadline = time.time() + 600  # a loaded machine starts TensorFlow slowly
    while not first_pass.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    kill_script(process)
    assert not (killed / "test_metrics.json").exists(), "the evaluation finished before it could be killed"
    resumed = run("evaluate.py", f"--run_dir={killed}", "--num_samples=3", env=env)
    assert "sample-3-seed0: reusing the pass finished earlier" in resumed.stdout
    assert not (killed / "test_evaluation_progress").exists()  # the passes go once the results are written
    metrics = [json.loads((d / "test_metrics.json").read_text()) for d in (tmp_path / "full", killed)]
    reused = metrics[1].pop("reused_passes")
    assert {"map-1", "sample-3-seed0"} <= set(reused) and "reused_passes" not in metrics[0]
    for m in metrics:
        assert set(m.pop("seconds")) == {"map", "sample"}  # wall times differ between runs
    assert metrics[0] == metrics[1] and metrics[0]["checkpoint_epoch"] == 3 and "entropy" in metrics[0]["sample"]
    # Every output is kept: the metrics come back from the outputs file alone.
    outputs = SplitOutputs.read(killed / "test_outputs.jsonl.gz")
    assert len(outputs.samples) == 3 and all(len(run) == len(outputs.map) == metrics[1]["inputs"] for run in outputs.samples)
    assert score(outputs.references, [[output] for output in outputs.map]) == metrics[1]["map"]
    per_seed = [score(outputs.references, run, Pooling(8, appended=1)) for run in outputs.samples]  # qgen, 8 tokens
    assert [{k: v for k, v in run.items() if k != "seed"} for run in metrics[1]["sample_runs"]] == per_seed
    assert [run["seed"] for run in metrics[1]["sample_runs"]] == [0, 1, 2]
    assert metrics[1]["sample"] == average_runs(per_seed)
    assert outputs.samples[0] != outputs.samples[1], "two sampling seeds drew the same samples"
    samples = (killed / "test_samples.txt").read_text()
    assert "reference:" in samples and "sample:" in samples
    # Latent diagnostics and the bypass probe, beside the metrics; the probe's MAP row is evaluate's.
    diagnostics = [json.loads((d / "test_diagnostics.json").read_text()) for d in (tmp_path / "full", killed)]
    assert diagnostics[1].pop("reused_passes") == reused and "reused_passes" not in diagnostics[0]
    for d in diagnostics:
        assert d.pop("seconds") >= 0
    assert diagnostics[0] == diagnostics[1]
    assert set(diagnostics[1]["bypass"]) == {"map", "z_prior", "attention_prior", "gap_z_prior", "gap_attention_prior"}
    assert diagnostics[1]["bypass"]["map"] == metrics[1]["map"]
    assert set(diagnostics[1]["latents"]) == {"kl_z_per_token", "kl_attention_per_token", "active_units", "mutual_information"}
    published_metrics = (killed / "test_metrics.json").read_text()
    (killed / "test_diagnostics.json").unlink()
    run("evaluate.py", f"--run_dir={killed}", "--diagnostics_only", env=env)
    again = json.loads((killed / "test_diagnostics.json").read_text())
    again.pop("seconds")
    assert again == diagnostics[1] and (killed / "test_metrics.json").read_text() == published_metrics
    # bypass.md from the run directories; the attention picture of one input, two runs side by side.
    (tmp_path / "root" / "qgen" / "ved_vattn_mean").mkdir(parents=True)
    shutil.copy(killed / "test_diagnostics.json", tmp_path / "root" / "qgen" / "ved_vattn_mean")
    run("make_tables.py", f"--runs_root={tmp_path / 'root'}", f"--output_dir={tmp_path / 'tables'}", "--tables=bypass",
        env=env)
    bypass = (tmp_path / "tables" / "bypass.md").read_text()
    assert f"| qgen | VED+VAttn-h̄ | 3 | {diagnostics[1]['latents']['kl_z_per_token']:.3f} |" in bypass
    result = run("plot_attention.py", f"--run_dir={killed}", f"--run_dir={tmp_path / 'full'}", "--label=killed",
                 "--label=full", f"--output={tmp_path / 'attention.png'}", "w1 w2 w3 .", env=env)
    assert (tmp_path / "attention.png").stat().st_size > 10_000 and result.stdout.count("(epoch 3): ") == 2
    # A user trying the model.
    result = run("generate.py", f"--run_dir={killed}", "--num_samples=2", "w1 w2 w3 .", env=env)
    assert result.stdout.count("  -> ") == 2
    # A source without words is decoded as training and evaluation treat it, with a warning.
    result = run("generate.py", f"--run_dir={killed}", "--num_samples=2", "?!", env=env)
    assert result.stdout.count("  -> ") == 2 and "warning: no word left after tokenization in ['?!']" in result.stderr
    # Other searches: their files sit beside the paper's greedy evaluation, which stays as it was.
    published = (killed / "test_metrics.json").read_text()
    run("evaluate.py", f"--run_dir={killed}", "--num_samples=2", "--sampling_seeds=0", "--search=beam",
        "--beam_size=3", env=env)
    beam = json.loads((killed / "test_metrics-beam3.json").read_text())
    assert beam["search"] == "beam (size 3, alpha 0.6)" and "bleu4" in beam["map"] and "entropy" in beam["sample"]
    assert (killed / "test_metrics.json").read_text() == published
    assert len(SplitOutputs.read(killed / "test_outputs-beam3.jsonl.gz").map) == beam["inputs"]
    run("evaluate.py", f"--run_dir={killed}", "--checkpoint=2", "--num_samples=2", "--sampling_seeds=0", env=env)
    assert json.loads((killed / "test_metrics-epoch2.json").read_text())["checkpoint_epoch"] == 2
    assert (killed / "test_metrics.json").read_text() == published
    nucleus = [run("generate.py", f"--run_dir={killed}", "--mode=map", "--search=top_p", "--top_p=0.9",
                   "--num_samples=4", "w1 w2 w3 .", env=env).stdout for _ in range(2)]
    assert nucleus[0].count("  -> ") == 4 and nucleus[0] == nucleus[1]  # reproducible for a seed
    result = run("generate.py", f"--run_dir={killed}", "--search=top_p", "--top_p=2", "w1 .", env=env, check=False)
    assert result.returncode == 1 and "top_p=2.0 is not valid; it must be in (0, 1]" in result.stderr
    # The table of searches: its greedy rows are evaluate.py's numbers (same seed, same batches).
    run("compare_searches.py", f"--run_dir={killed}", "--num_samples=3", f"--output={tmp_path / 'searches.md'}", env=env)
    table = json.loads((tmp_path / "searches.json").read_text())
    assert [row["search"] for row in table["rows"]] == [
        "greedy", "beam (size 5, alpha 0.6)", "greedy", "random (temperature 1)", "top-k (k 10, temperature 1)",
        "top-p (p 0.9, temperature 1)"]
    assert table["rows"][0]["metrics"] == metrics[1]["map"]
    assert table["rows"][2]["metrics"] == {k: v for k, v in metrics[1]["sample_runs"][0].items() if k != "seed"}
    assert all("entropy" in row["metrics"] for row in table["rows"][2:])
    assert "| beam (size 5, alpha 0.6) | posterior means | 1 |" in (tmp_path / "searches.md").read_text()
    map_length = sum(len(output) for output in SplitOutputs.read(killed / "test_outputs.jsonl.gz").map) / metrics[1]["inputs"]
    assert table["rows"][0]["length"] == pytest.approx(map_length)
    # Greedy with EOS held back: only the rows asked for; every output has at least 4 tokens (3 and the "?").
    run("compare_searches.py", f"--run_dir={killed}", "--searches=greedy", "--min_lengths=3",
        f"--output={tmp_path / 'longer.md'}", env=env)
    rows = json.loads((tmp_path / "longer.json").read_text())["rows"]
    assert [row["search"] for row in rows] == ["greedy", "greedy", "greedy, at least 3 tokens"]
    assert rows[0] == {**table["rows"][0], "seconds": rows[0]["seconds"]} and rows[2]["length"] >= 4
    run("evaluate.py", f"--run_dir={killed}", "--min_length=3", "--num_samples=2", "--sampling_seeds=0", env=env)
    longer = json.loads((killed / "test_metrics-greedy_min3.json").read_text())
    assert longer["map"] == rows[2]["metrics"] and (killed / "test_metrics.json").read_text() == published
    result = run("compare_searches.py", f"--run_dir={killed}", "--searches=viterbi", env=env, check=False)
    assert result.returncode == 1 and "--searches=['viterbi']: --searches takes greedy, random, top_k, top_p, beam" \
        in result.stderr
    result = run("compare_searches.py", f"--run_dir={tmp_path / 'nothing'}", "--min_lengths=-2", env=env, check=False)
    assert result.returncode == 1 and "--min_lengths takes whole numbers >= 1" in result.stderr


def test_bad_flags_name_the_valid_values(tmp_path, env):
    result = run("train.py", "--model=transformer", f"--output_dir={tmp_path}", env=env, check=False)
    assert result.returncode != 0 and "ded|ded_dattn" in result.stderr
    result = run("train.py", "--kl_schedule=cosine", f"--output_dir={tmp_path}", env=env, check=False)
    assert "capped_tanh|logistic|linear|constant" in result.stderr
    result = run("evaluate.py", f"--run_dir={tmp_path / 'nothing'}", env=env, check=False)
    assert result.returncode == 1 and "not a run directory" in result.stderr
    for flag, message in (("--max_examples=0", "max_examples must be in [1, inf), got 0"),
                          ("--gamma_a=-1", "gamma_a must be in [0, inf), got -1.0"),
                          ("--learning_rate=-0.01", "learning_rate must be in (0, inf), got -0.01")):
        result = run("train.py", flag, f"--output_dir={tmp_path / 'bad'}", env=env, check=False)
        assert result.returncode == 2 and result.stderr.startswith(f"error: {message}"), result.stderr[-500:]
    result = run("evaluate.py", f"--run_dir={tmp_path}", "--sampling_seeds=a", env=env, check=False)
    assert result.returncode == 1 and "--sampling_seeds takes one or more whole numbers >= 0" in result.stderr


def test_smoke_chain_end_to_end(tmp_path, env):
    """`./reproduce.sh smoke` on tiny data: train, evaluate, tables and figures."""
    env = {**env, "TMPDIR": str(tmp_path), "SMOKE_EXAMPLES": "60", "VARATTN_FLAGS": " ".join(TINY_FLAGS)}
    result = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "smoke"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    results = next(tmp_path.glob("varattn-smoke.*")) / "results"
    produced = {p.name for p in results.iterdir()}
    assert {"table2.md", "table4.md", "figure4.png", "case_study.md", "claims.md", "bypass.md", "latents.png"} <= produced
    assert "figure5.png" not in produced  # one gamma_a run: nothing to compare
    table = (results / "table2.md").read_text()
    # A smoke run is not the paper's setting, and the table says so.
    assert table.splitlines()[0].endswith("some rows NOT with the paper's settings")
    row = next(line for line in table.splitlines() if line.startswith("| VED+VAttn-h̄ | Sampling | ours (epoch 1"))
    assert "mean of 3 runs; NOT the paper's settings: " in row and "epochs=1, " in row and "max_examples=60" in row
    assert "| DED+DAttn | MAP | ours (epoch 1; NOT the paper's settings: " in table
    assert "| VED+VAttn-h̄ | Sampling | ours, 95% interval |" in table
    published = results / "runs" / "qgen" / "ved_vattn_mean"
    assert {"test_metrics.json", "test_outputs.jsonl.gz", "test_likelihood.json"} <= {p.name for p in published.iterdir()}
    assert "latents.md" in produced and "| qgen | DED+DAttn | 1 |" in (results / "latents.md").read_text()
    # Where the diversity comes from: three sampling passes, their progress folder gone once written.
    run_dir = results.parent / "runs" / "qgen" / "ved_vattn_mean"
    run("evaluate.py", f"--run_dir={run_dir}", "--diversity_sources", "--num_samples=2", env=env)
    sources = json.loads((run_dir / "test_diversity_sources.json").read_text())["sources"]
    assert set(sources) == {"z", "attention", "both"} and not (run_dir / "test_diversity_progress").exists()
    assert (sources["z"]["z_temperature"], sources["z"]["attention_temperature"]) == (1.0, 0.0)
    assert "reused_from_evaluation" not in json.loads((run_dir / "test_diversity_sources.json").read_text())  # 2 != 10
    run("evaluate.py", f"--run_dir={run_dir}", "--diversity_sources", env=env)  # as many samples as the evaluation
    sources = json.loads((run_dir / "test_diversity_sources.json").read_text())
    assert sources["reused_from_evaluation"] == ["both"] and set(sources["sources"]) == {"z", "attention", "both"}
    # `tables` regenerates the same tables from the published outputs alone (the run directories deleted).
    shutil.rmtree(results.parent / "runs")
    before = {name: (results / name).read_text() for name in ("table2.md", "table4.md", "case_study.md")}
    (results / "table2.md").unlink()
    result = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "tables"], capture_output=True, text=True,
                            env={**env, "VARATTN_RESULTS": str(results)}, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {name: (results / name).read_text() for name in before} == before


def test_own_data_end_to_end(tmp_path, word2vec_cache):
    """README "Your own data": train on aligned text + TSV + CSV files made here (no paper data:
    the data directory points nowhere), evaluate, generate; other data under the run is refused."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    corpus = tmp_path / "corpus"
    corpus.mkdir()

    def pairs(n):
        sentences = [rng.sample(words, rng.randint(3, 7)) for _ in range(n)]
        return [(" ".join(s).capitalize() + ".", " ".join(reversed(s[:3]))) for s in sentences]

    train = pairs(80)
    (corpus / "train.src").write_text("".join(s + "\n" for s, _ in train), encoding="utf-8")
    (corpus / "train.tgt").write_text("".join(t + "\n" for _, t in train), encoding="utf-8")
    (corpus / "val.tsv").write_text("text\tsummary\n" + "".join(f"{s}\t{t}\n" for s, t in pairs(20)), encoding="utf-8")
    (corpus / "test.tsv").write_text("text\tsummary\n" + "".join(f"{s}\t{t}\n" for s, t in pairs(20)), encoding="utf-8")
    env = {**os.environ, "VARATTN_DATA_DIR": str(tmp_path / "nowhere"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run_dir = tmp_path / "runs" / "mine" / "ved_vattn_mean"
    command = ["--task=custom", "--model=ved_vattn_mean", f"--train_file={corpus}/train.src,{corpus}/train.tgt",
               f"--val_file={corpus}/val.tsv", f"--test_file={corpus}/test.tsv", "--source_column=text",
               "--target_column=summary", "--epochs=2", *TINY_FLAGS, f"--output_dir={run_dir}"]
    run("train.py", *command, env=env)
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["task"], config["source_column"], config["epochs"]) == ("custom", "text", 2)
    [vectors] = word2vec_cache.glob("word2vec-*.kv")  # trained on this corpus, cached for every run
    sources = json.loads((run_dir / "data_sources.json").read_text())
    assert [Path(entry["path"]).name for entry in sources["train"]] == ["train.src", "train.tgt"]
    assert len(json.loads((run_dir / "history.json").read_text())) == 2
    run("evaluate.py", f"--run_dir={run_dir}", "--num_samples=2", "--sampling_seeds=0", env=env)
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    assert metrics["map"]["bleu1"] >= 0 and metrics["inputs"] == 20 and metrics["split"] == "test"
    result = run("generate.py", f"--run_dir={run_dir}", "--num_samples=2", "W3 w7 w1 w9.", env=env)
    assert result.stdout.splitlines()[0] == "W3 w7 w1 w9." and result.stdout.count("  ->") == 2
    # Relative --*_file paths, trained in the corpus's folder, are recorded absolute: the run is evaluated
    # from anywhere; a run that recorded them relative (an older version) is read from data_sources.json.
    relative = tmp_path / "relative"
    relative_flags = [flag.replace(f"{corpus}/", "") if flag.startswith(("--train_file", "--val_file", "--test_file"))
                      else flag for flag in command if not flag.startswith(("--output_dir", "--epochs"))]
    result = SERVER.run(ROOT / "experiments" / "train.py", *relative_flags, "--epochs=1", f"--output_dir={relative}",
                        env=env, cwd=corpus)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((relative / "config.json").read_text())["val_file"] == str(corpus / "val.tsv")
    assert list(word2vec_cache.glob("word2vec-*.kv")) == [vectors]  # a run in another folder: the same vectors
    stored = json.loads((relative / "config.json").read_text())
    (relative / "config.json").write_text(json.dumps({**stored, "val_file": "val.tsv", "test_file": "test.tsv",
                                                      "train_file": "train.src,train.tgt"}))
    run("evaluate.py", f"--run_dir={relative}", "--num_samples=2", "--sampling_seeds=0", env=env)
    assert json.loads((relative / "test_metrics.json").read_text())["inputs"] == 20
    # Another test file under the same run: refused before any training, naming the file.
    (corpus / "test.tsv").write_text("text\tsummary\n" + "".join(f"{s}\t{t}\n" for s, t in pairs(20)), encoding="utf-8")
    result = run("train.py", *command, env=env, check=False)
    assert result.returncode == 1 and "test.tsv (test) is not the file this run was trained on" in result.stderr
    result = run("evaluate.py", f"--run_dir={run_dir}", env=env, check=False)
    assert result.returncode == 1 and "Restore that file, or train into a new --output_dir" in result.stderr
    # A run with no test split (this one, as if trained without --test_file) says so when asked for test.
    no_test = tmp_path / "b"
    shutil.copytree(run_dir, no_test)
    for name in ("config.json", "data_sources.json"):
        stored = json.loads((no_test / name).read_text())
        stored.pop("test_file" if name == "config.json" else "test")
        (no_test / name).write_text(json.dumps(stored))
    (corpus / "test.tsv").unlink()  # nothing reads it
    result = run("evaluate.py", f"--run_dir={no_test}", env=env, check=False)
    assert result.returncode == 1 and "no test split (it was trained without --test_file); use one of its splits: " \
        "--split=val" in result.stderr


def test_a_different_config_is_refused_before_word2vec_and_a_second_trainer_is_locked_out(tmp_path, env, word2vec_cache):
    from tf_varattn.config import get_config
    from tf_varattn.training.runs import RunLock

    run_dir = tmp_path / "runs" / "qgen" / "ved_vattn_mean"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(get_config("ved_vattn_mean", latent_dim=4).to_dict()))
    result = run("train.py", "--model=ved_vattn_mean", "--latent_dim=8", "--word2vec_epochs=50",
                 f"--output_dir={run_dir}", env=env, check=False)
    assert result.returncode == 1 and "different config (latent_dim: 4 -> 8)" in result.stderr
    assert not word2vec_cache.exists() and not (run_dir.parent / "word2vec").exists()
    assert not (run_dir / "vocab.json").exists()
    with RunLock(run_dir):
        result = run("train.py", "--model=ved_vattn_mean", "--latent_dim=4", f"--output_dir={run_dir}", env=env,
                     check=False)
    assert result.returncode == 1 and f"is in use by another process (PID {os.getpid()})" in result.stderr


def test_a_trial_never_passes_for_the_papers_run(tmp_path, env):
    """A 1-epoch trial in the run root must not be taken as the paper's run (nor its results overwritten)."""
    roots = {"VARATTN_RUNS": str(tmp_path / "runs"), "VARATTN_RESULTS": str(tmp_path / "results")}
    trial = {**env, **roots, "VARATTN_EPOCHS": "1", "VARATTN_FLAGS": " ".join([*TINY_FLAGS, "--max_examples=40"])}
    result = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "model", "qgen", "ded"], capture_output=True,
                            text=True, env=trial, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    published = tmp_path / "results" / "runs" / "qgen" / "ded" / "test_metrics.json"
    before = published.read_text()
    again = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "model", "qgen", "ded"], capture_output=True,
                           text=True, env=trial, cwd=ROOT)
    assert "finished earlier with these settings, skipped" in again.stdout
    paper = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "model", "qgen", "ded"], capture_output=True,
                           text=True, env={**env, **roots}, cwd=ROOT)
    assert paper.returncode != 0 and "skipped" not in paper.stdout
    assert "holds a run with another config" in paper.stderr and "max_examples: 40 (asked None)" in paper.stderr
    assert published.read_text() == before
    usage = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert "runs/trial/" in usage.stdout and "VARATTN_JOBS" in usage.stdout
    # VARATTN_RUN_DIR relative to the repository: published at the same place under results/runs.
    relative = os.path.relpath(tmp_path / "runs" / "qgen" / "elsewhere" / "ved", ROOT)
    other = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "model", "qgen", "ved_dattn"], capture_output=True,
                           text=True, env={**trial, "VARATTN_RUN_DIR": relative}, cwd=ROOT)
    assert other.returncode == 0, other.stderr[-3000:]
    assert (tmp_path / "results" / "runs" / "qgen" / "elsewhere" / "ved" / "test_metrics.json").is_file()
    # bypass: diagnostics for every evaluated run that lacks them, published, and bypass.md.
    bypass = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "bypass"], capture_output=True, text=True,
                            env=trial, cwd=ROOT)
    assert bypass.returncode == 0, bypass.stderr[-3000:]
    for run_name in ("ded", "elsewhere/ved"):
        diagnostics = json.loads((tmp_path / "results" / "runs" / "qgen" / run_name / "test_diagnostics.json").read_text())
        assert ("z_prior" in diagnostics["bypass"]) == (run_name != "ded")
    table = (tmp_path / "results" / "bypass.md").read_text()
    assert "| qgen | DED (w/o Attn) | 1 |" in table and "| qgen | elsewhere/ved | 1 |" in table
    # likelihood: every evaluated run's, published, and the other models' table of latents.md.
    likelihood = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "likelihood"], capture_output=True, text=True,
                                env=trial, cwd=ROOT)
    assert likelihood.returncode == 0, likelihood.stderr[-3000:]
    scored = {name: json.loads((tmp_path / "results" / "runs" / "qgen" / name / "test_likelihood.json").read_text())
              for name in ("ded", "elsewhere/ved")}
    assert scored["ded"]["nll"]["value"] == pytest.approx(scored["ded"]["negative_elbo"]["value"])  # a DED: exact
    report = (tmp_path / "results" / "latents.md").read_text()
    assert "| qgen | DED (w/o Attn) | 1 |" in report and "| qgen | elsewhere/ved | 1 |" in report


def test_help_lists_every_config_flag_quietly(env):
    import dataclasses

    from tf_varattn.config import Config

    # A plain process: what a user sees includes TensorFlow's import.
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / "train.py"), "--help"], capture_output=True,
                            text=True, env={k: v for k, v in env.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    for field in dataclasses.fields(Config):
        if field.name not in ("preset", "task"):
            assert f"--{field.name}:" in result.stdout or f"--[no]{field.name}:" in result.stdout, field.name
    assert "--gamma_a: Weight of the attention KL, Eq. (8)." in result.stdout
    assert "--user_dir:" in result.stdout
    assert "oneDNN" not in result.stderr and "cuda" not in result.stderr.lower()


@pytest.mark.parametrize("script", ["evaluate.py", "generate.py", "export.py", "compare_searches.py"])
def test_help_lists_the_shared_flags(script, env):
    """The flags that the library defines for a script (--user_dir; --search and every search's options)
    are that script's own: its --help lists them, not only --helpfull."""
    text = run(script, "--help", env=env).stdout
    assert "--user_dir:" in text
    if script != "compare_searches.py":  # it has --searches, a list of rows, instead
        for flag in ("--search:", "--top_p:", "--beam_size:", "--min_length:"):
            assert flag in text, flag


def test_figure5_trains_side_by_side_and_reuses_the_table_run(tmp_path, env):
    """VARATTN_JOBS=2: the two gamma_a runs train at once (one thread each, a log per run);
    gamma_a = 0.1, the preset's own value, is the Table 2 run's directory."""
    jobs = {**env, "VARATTN_RUNS": str(tmp_path / "runs"), "VARATTN_RESULTS": str(tmp_path / "results"),
            "VARATTN_EPOCHS": "1", "VARATTN_FLAGS": " ".join([*TINY_FLAGS, "--max_examples=40"]),
            "VARATTN_GAMMAS": "0.1 1", "VARATTN_JOBS": "2"}
    result = subprocess.run(["bash", str(ROOT / "reproduce.sh"), "figure5"], capture_output=True, text=True,
                            env=jobs, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.count("started in the background, 1 TensorFlow thread(s)") == 2
    table_run, gamma_run = tmp_path / "runs" / "qgen" / "ved_vattn_mean", tmp_path / "runs" / "qgen" / "gamma_a" / "1"
    assert json.loads((gamma_run / "config.json").read_text())["gamma_a"] == 1.0
    assert json.loads((table_run / "config.json").read_text())["gamma_a"] == 0.1
    assert (table_run / "test_metrics.json").is_file() and (gamma_run.parent / "1.log").is_file()
    assert (tmp_path / "results" / "figure5.png").is_file()


def test_make_tables_refuses_an_empty_runs_root_and_leaves_the_results_as_they_were(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "table2.md").write_text("committed\n")
    (tmp_path / "empty").mkdir()
    result = run("make_tables.py", f"--runs_root={tmp_path / 'empty'}", f"--output_dir={results}", check=False)
    assert result.returncode == 1 and "holds no evaluated run" in result.stderr
    assert "Traceback" not in result.stderr and sorted(p.name for p in results.iterdir()) == ["table2.md"]
    assert (results / "table2.md").read_text() == "committed\n"
    # A damaged test_metrics.json: one line naming it and the command that writes it again.
    run_dir = tmp_path / "runs" / "qgen" / "ved_dattn"
    run_dir.mkdir(parents=True)
    (run_dir / "test_metrics.json").write_text('{"map": {"bleu')
    result = run("make_tables.py", f"--runs_root={tmp_path / 'runs'}", f"--output_dir={results}", "--tables=table2",
                 check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    # (a folder without a model, as a published copy: restored, not evaluated again)
    assert f"{run_dir / 'test_metrics.json'} is damaged" in result.stderr and "restore it (git checkout" in result.stderr
    assert (results / "table2.md").read_text() == "committed\n"


def test_ctrl_c_and_sigterm_say_where_the_run_stopped_and_bad_run_inputs_are_one_line(tmp_path, env):
    flags = ["--task=qgen", "--model=ded_dattn", "--epochs=50", "--checkpoint_minutes=0", *TINY_FLAGS,
             "--nopretrained_embeddings", f"--output_dir={tmp_path / 'run'}"]
    deadline = time.time() + 600

    def stopped_after_epoch(epoch, sigint, stop):
        """train.py started with SIGINT handled as ``sigint``, sent ``stop`` once epoch ``epoch`` is
        saved: its exit status and standard error."""
        process = SERVER.start(ROOT / "experiments" / "train.py", *flags, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
        while not (tmp_path / "run" / "checkpoints" / f"epoch-{epoch}.index").exists() and process.poll() is None \
                and time.time() < deadline:
            time.sleep(0.05)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=120)
        assert "Traceback" not in stderr, stderr[:1500] + "\n[...]\n" + stderr[-2500:]
        return process.returncode, stderr

    # pytest-xdist's workers ignore SIGINT, and a child would inherit that: give it the default back
    # (the script server gives its script the client's SIGINT handling).
    returncode, stderr = stopped_after_epoch(1, signal.SIG_DFL, signal.SIGINT)
    assert returncode == 130 and "Stopped (Ctrl-C)" in stderr and "rerun the same command to resume" in stderr
    assert "keeps the checkpoint of epoch" in stderr and "stopping after this step" in stderr
    # Started in the background by a script (`nohup ... &`: SIGINT ignored), it stops the same way on
    # SIGTERM (`kill PID`, a scheduler's preemption), saving first, instead of ending at once.
    returncode, stderr = stopped_after_epoch(2, signal.SIG_IGN, signal.SIGTERM)
    assert returncode == 143 and "SIGTERM: stopping after this step" in stderr and "Stopped (SIGTERM)" in stderr
    assert "keeps the checkpoint of epoch" in stderr and "rerun the same command to resume" in stderr
    # Out-of-range sample counts are refused by the flag parser; a run without vocab.json is one line.
    result = run("generate.py", f"--run_dir={tmp_path / 'run'}", "--num_samples=0", "w1 w2 .", env=env, check=False)
    assert result.returncode != 0 and "num_samples" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "run" / "vocab.json").unlink()
    for script, args in (("generate.py", ["w1 w2 ."]), ("evaluate.py", ["--max_inputs=5"])):
        result = run(script, f"--run_dir={tmp_path / 'run'}", *args, env=env, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert f"{tmp_path / 'run'} has no vocab.json" in result.stderr


def test_only_the_runs_evaluation_epoch_and_all_its_inputs_make_its_evaluation(tmp_path, env):
    """A run still training is not evaluated from its newest checkpoint, and a quick check on the
    first inputs never replaces (nor passes for) the run's evaluation."""
    run_dir = tmp_path / "run"
    flags = ["--task=qgen", "--model=ved_dattn", "--epochs=3", "--eval_epoch=2", "--max_examples=40",
             f"--output_dir={run_dir}", *TINY_FLAGS]
    run("train.py", *flags, "--stop_after_epoch=1", env=env)
    early = run("evaluate.py", f"--run_dir={run_dir}", env=env, check=False)
    assert early.returncode == 1
    assert "epoch 2, the run's evaluation epoch (eval_epoch=2), has no checkpoint: it has finished epochs [1] of 3 " \
           "(still training? wait for epoch 2). To evaluate another epoch, name it: --checkpoint N" in early.stderr
    assert not list(run_dir.glob("test_*"))
    tried = run("generate.py", f"--run_dir={run_dir}", "--num_samples=1", "w1 w2 .", env=env)
    assert "at epoch 1 (the newest: the evaluation epoch 2 has no checkpoint yet)" in tried.stderr
    # Standard input closed and no sentence: one line, no traceback.
    closed = subprocess.run(["bash", "-c", f'"{sys.executable}" experiments/generate.py --run_dir="{run_dir}" <&-'],
                            capture_output=True, text=True, env=env, cwd=ROOT)
    assert closed.returncode != 0 and "Give sentences as arguments or on standard input" in closed.stderr
    assert "Traceback" not in closed.stderr
    run("evaluate.py", f"--run_dir={run_dir}", "--checkpoint=1", "--sampling_seeds=0", env=env)
    assert (run_dir / "test_metrics-epoch1.json").is_file() and not (run_dir / "test_metrics.json").exists()
    run("train.py", *flags, env=env)
    run("evaluate.py", f"--run_dir={run_dir}", "--sampling_seeds=0", env=env)
    full = (run_dir / "test_metrics.json").read_text()
    assert json.loads(full)["batch_size"] == 100 and json.loads(full)["num_samples"] == 10  # what fixes the sampling rows
    assert json.loads(full)["checkpoint_epoch"] == 2 and json.loads(full)["inputs"] > 5  # the whole test split
    # Where the diversity comes from, without decoding what the evaluation decoded: with a deterministic
    # attention all three passes are its seed-0 sampling run or its MAP decoding, as decoding them gives.
    run("evaluate.py", f"--run_dir={run_dir}", "--diversity_sources", env=env)
    reused = json.loads((run_dir / "test_diversity_sources.json").read_text())
    run("evaluate.py", f"--run_dir={run_dir}", "--diversity_sources", "--noreuse_evaluation", env=env)
    decoded = json.loads((run_dir / "test_diversity_sources.json").read_text())
    assert reused.pop("reused_from_evaluation") == ["z", "attention", "both"] and "reused_from_evaluation" not in decoded
    scores = {kind: {name: {k: v for k, v in row.items() if not k.endswith("temperature")}
                        for name, row in result["sources"].items()} for kind, result in (("reused", reused),
                                                                                           ("decoded", decoded))}
    assert scores["reused"]["both"] == scores["decoded"]["both"] == scores["decoded"]["z"] == scores["reused"]["z"]
    assert scores["reused"]["both"] == {k: v for k, v in json.loads(full)["sample_runs"][0].items() if k != "seed"}
    for name in ("bleu1", "bleu4", "entropy"):  # z at its mean, nothing random: MAP decoding (other batches)
        assert reused["sources"]["attention"][name] == pytest.approx(decoded["sources"]["attention"][name], abs=0.5)
    assert reused["sources"]["attention"]["bleu4"] == json.loads(full)["map"]["bleu4"]
    # The three lines of Python give what generate.py prints.
    import tf_varattn

    model = tf_varattn.load(run_dir)
    assert model.epoch == 2 and model.is_evaluation_epoch
    for mode in ("map", "sample"):
        printed = run("generate.py", f"--run_dir={run_dir}", f"--mode={mode}", "--num_samples=3", "--seed=4",
                      "w1 w2 w3 .", "w4 w5 .", env=env).stdout.splitlines()
        outputs = model.generate(["w1 w2 w3 .", "w4 w5 ."], num_samples=3, mode=mode, seed=4)
        assert printed == [line for sentence, per_input in zip(["w1 w2 w3 .", "w4 w5 ."], outputs)
                           for line in [sentence] + [f"  -> {output}" for output in per_input]]
    run("evaluate.py", f"--run_dir={run_dir}", "--max_inputs=5", "--sampling_seeds=0", env=env)
    assert (run_dir / "test_metrics.json").read_text() == full
    quick = json.loads((run_dir / "test_metrics-first5.json").read_text())
    assert quick["inputs"] == 5 and (run_dir / "test_likelihood-first5.json").is_file()
    quick_diagnostics = json.loads((run_dir / "test_diagnostics-first5.json").read_text())
    assert quick_diagnostics["diagnostics_inputs"] == quick_diagnostics["bypass_inputs"] == 5  # every part: its inputs
    # Your own pairs scored in Python as evaluate.py scores the test set: the first five test pairs
    # (raw text) give its figures, the same draws for the same seed.
    import csv

    with open(Path(env["VARATTN_DATA_DIR"]) / "varattn" / "df_qgen_test.csv", encoding="utf-8") as handle:
        first = list(csv.reader(handle))[1:6]
    scored = model.likelihood([row[0] for row in first], [row[1] for row in first])
    evaluated = json.loads((run_dir / "test_likelihood-first5.json").read_text())
    tokens = sum(row["tokens"] for row in scored)
    assert evaluated["inputs"] == 5 and tokens == evaluated["tokens"]  # the quick check's likelihood: its inputs too
    for name in ("nll", "negative_elbo", "kl_z", "kl_attention"):
        assert sum(row[name] for row in scored) / tokens == pytest.approx(evaluated[name]["value"], rel=1e-5), name
    assert all(row["nll_per_token"] == pytest.approx(row["nll"] / row["tokens"]) for row in scored)
    assert model.likelihood([row[0] for row in first], [row[1] for row in first]) == scored  # the seed fixes the draws
    with pytest.raises(ValueError, match="one target per source; got 2 sources and 1 targets"):
        model.likelihood(["w1 .", "w2 ."], ["what w1 ?"])


@pytest.fixture
def small_filesystem(tmp_path):
    """A 16 MB file system of its own (tmpfs), unmounted afterwards; skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder):
    """Writes a file into ``folder`` until its file system is full."""
    with open(folder / "filler", "wb", buffering=0) as stream:
        for size in (1 << 20, 1 << 12, 1):  # down to the last byte
            try:
                while True:
                    stream.write(b"\0" * size)
            except OSError:
                pass


def test_a_full_disk_or_a_read_only_run_stops_in_one_line_and_leaves_nothing_half_written(small_filesystem, env):
    run_dir = small_filesystem / "runs" / "run"
    flags = ["--task=qgen", "--model=ved_dattn", "--epochs=1", "--max_examples=40", *TINY_FLAGS]
    run("train.py", *flags, f"--output_dir={run_dir}", env=env)

    def one_line(result, says):
        assert result.returncode == 1, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and says in result.stderr, result.stderr[-2000:]

    _fill(small_filesystem)
    one_line(run("evaluate.py", f"--run_dir={run_dir}", "--sampling_seeds=0", env=env, check=False),
             "); the disk is full: free space")
    assert not list(small_filesystem.rglob("*.tmp")) and not (run_dir / "test_metrics.json").exists()
    one_line(run("train.py", *flags, f"--output_dir={small_filesystem / 'runs' / 'other'}", env=env, check=False),
             "the disk is full")
    (small_filesystem / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_filesystem)], check=True)
    one_line(run("evaluate.py", f"--run_dir={run_dir}", "--sampling_seeds=0", env=env, check=False),
             "read-only")
    one_line(run("train.py", *flags[:2], "--epochs=2", *flags[3:], f"--output_dir={run_dir}", env=env, check=False),
             "read-only")


def test_a_normal_run_prints_only_the_projects_own_lines(tmp_path, synthetic_data_dir):
    """train, evaluate, generate and export as plain processes (no TF_CPP_MIN_LOG_LEVEL given): standard
    error holds no line of TensorFlow's C++ or absl logging, nor a retracing warning."""
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "VARATTN_TF_LOGS")}
    env["VARATTN_DATA_DIR"] = str(synthetic_data_dir)
    run_dir = tmp_path / "run"
    commands = [["train.py", "--task=qgen", "--model=ved_vattn_mean", "--epochs=1", "--max_examples=40", *TINY_FLAGS,
                 f"--output_dir={run_dir}"],
                ["evaluate.py", f"--run_dir={run_dir}", "--num_samples=2", "--likelihood_samples=2"],
                ["generate.py", f"--run_dir={run_dir}", "w1 w2 ."],
                ["export.py", f"--run_dir={run_dir}", f"--export_dir={tmp_path / 'export'}"]]
    foreign = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages|.*(retracing|tensorflow|oneDNN|cuda|absl))", re.I)
    for script, *args in commands:
        result = subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], capture_output=True,
                                text=True, env=env, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-2000:]
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert not [line for line in lines if foreign.match(line)], result.stderr[-3000:]
    import tf_varattn  # noqa: F401  (already imported here; that it imports quietly is the scripts' case)


PLUGIN = '''
"""An attention and a search of a user's own, outside the package."""
import keras
import tensorflow as tf

from tf_varattn.attention_registry import AttentionKind, register_attention_posterior
from tf_varattn.decoding import Sampler, register_search
from tf_varattn.layers import VariationalAttention


@keras.saving.register_keras_serializable(package="user")
class HalfSigmaAttention(VariationalAttention):
    """The paper's Gaussian attention with its sigma halved."""

    def log_sigma(self, context):
        return super().log_sigma(context) - 0.6931


register_attention_posterior(AttentionKind("half_sigma", HalfSigmaAttention, random=True,
                                           config_options={"attention_prior": "prior"}, description="mine"))


@register_search
class LeastLikelySecond(Sampler):
    """The second most probable token (a search nobody should use)."""

    name, deterministic, options = "second_best", True, ()

    def get_next_token(self, logits, seed):
        return tf.math.top_k(logits, 2).indices[:, 1]
'''


def test_your_own_attention_and_search_from_the_command_line(tmp_path, env):
    """--user_dir through the four scripts as processes: trained with the user's attention, the run
    records the code, evaluate/generate/compare_searches load it without the flag and refuse it changed."""
    plugin = tmp_path / "my_attention.py"
    plugin.write_text(PLUGIN)
    run_dir = tmp_path / "run"
    help_text = run("train.py", f"--user_dir={plugin}", "--help", env=env).stdout
    assert "half_sigma" in help_text
    run("train.py", f"--user_dir={plugin}", "--task=qgen", "--model=ved_vattn_mean", "--attention=half_sigma",
        "--epochs=1", "--max_examples=40", *TINY_FLAGS, f"--output_dir={run_dir}", env=env)
    recorded = json.loads((run_dir / "user_dir.json").read_text())
    assert recorded["path"] == str(plugin) and len(recorded["sha256"]) == 64
    assert json.loads((run_dir / "config.json").read_text())["attention"] == "half_sigma"
    assert "second_best" in run("generate.py", f"--run_dir={run_dir}", "--help", env=env).stdout
    run("evaluate.py", f"--run_dir={run_dir}", "--num_samples=2", "--sampling_seeds=0", "--search=second_best", env=env)
    assert (run_dir / "test_metrics-second_best.json").is_file()
    printed = run("generate.py", f"--run_dir={run_dir}", "--search=second_best", "--mode=map", "w1 w2 .", env=env)
    assert printed.stdout.count("  -> ") == 1
    run("compare_searches.py", f"--run_dir={run_dir}", "--searches=greedy,second_best", "--num_samples=2",
        f"--output={tmp_path / 'searches.md'}", env=env)
    assert "second_best" in (tmp_path / "searches.md").read_text()
    # The code changed since: refused, both digests named.
    plugin.write_text(PLUGIN + "\n# edited\n")
    refused = run("evaluate.py", f"--run_dir={run_dir}", env=env, check=False)
    assert refused.returncode == 1 and "changed since" in refused.stderr and recorded["sha256"][:16] in refused.stderr
    assert "Traceback" not in refused.stderr


SERVING_CLIENT = """
import json, sys
import tensorflow as tf

export = tf.saved_model.load(sys.argv[1])
tokens = tf.constant(json.loads(sys.argv[2]))

def generate(temperature, seed, samples=3):
    result = export.signatures["generate_tokens"](
        tokens=tokens, num_samples=tf.constant(samples), z_temperature=tf.constant(temperature),
        attention_temperature=tf.constant(temperature), seed=tf.constant(seed, tf.int64))
    return [[" ".join(word.decode() for word in row[:n]) for row, n in zip(rows, lengths)]
            for rows, lengths in zip(result["outputs"].numpy(), result["lengths"].numpy())]

ids = export.generate_ids(tf.constant([[4, 5, 6], [7, 0, 0]]), tf.constant([3, 1]), tf.constant(2), tf.constant(0.0),
                          tf.constant(0.0), tf.constant(0, tf.int64))
print(json.dumps({"map": generate(0.0, 0, samples=1), "seed5": generate(1.0, 5), "seed5_again": generate(1.0, 5),
                  "seed6": generate(1.0, 6), "ids_shape": list(ids["ids"].shape),
                  "tf_varattn_modules": sorted(m for m in sys.modules if m.startswith("tf_varattn"))}))
"""


def test_an_export_serves_without_the_run_or_the_package(tmp_path, env):
    """export.py writes a SavedModel; with the run deleted, a process that never imports tf_varattn
    loads it: MAP outputs equal generate.py --mode=map, one seed gives the same samples twice."""
    from tf_varattn.data.vocab import word_tokenize

    run_dir, export_dir = tmp_path / "runs" / "run", tmp_path / "export"
    run("train.py", "--task=qgen", "--model=ved_vattn_mean", "--epochs=1", "--max_examples=40", *TINY_FLAGS,
        f"--output_dir={run_dir}", env=env)
    sentences = ["w1 w2 w3 .", "W4 w5 w9 w11 .", "?!"]
    printed = run("generate.py", f"--run_dir={run_dir}", "--mode=map", *sentences, env=env).stdout.splitlines()
    exported = run("export.py", f"--run_dir={run_dir}", f"--export_dir={export_dir}", env=env)
    assert "generate_tokens" in exported.stdout and not exported.stderr.strip()
    refused = run("export.py", f"--run_dir={run_dir}", f"--export_dir={export_dir}", env=env, check=False)
    assert refused.returncode == 1 and "exists already" in refused.stderr and "Traceback" not in refused.stderr
    shutil.rmtree(tmp_path / "runs")
    tokens = [word_tokenize(sentence) for sentence in sentences]  # the client's one step outside the graph
    width = max(len(t) for t in tokens)
    client = subprocess.run([sys.executable, "-c", SERVING_CLIENT, str(export_dir),
                             json.dumps([t + [""] * (width - len(t)) for t in tokens])],
                            capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert client.returncode == 0, client.stderr[-3000:]
    served = json.loads(client.stdout.splitlines()[-1])
    assert served["tf_varattn_modules"] == []
    assert [f"  -> {outputs[0]}" for outputs in served["map"]] == [line for line in printed if line.startswith("  -> ")]
    assert served["seed5"] == served["seed5_again"] and served["seed5"] != served["seed6"]
    assert served["ids_shape"] == [2, 2, 8]  # [B, N, max_decode_length]
