import json

import numpy as np
import pytest

from tf_varattn.evaluation import SplitOutputs, average_runs, score
from tf_varattn.metrics import Pooling
from tf_varattn.reporting import gamma_runs, plot_figure5, render_bypass, render_case_study, render_table


def _write_run(folder, gamma_a=0.1, seed=0, vocab=6, history_epochs=2, sources=None):
    """A run directory as evaluate.py leaves it, with made-up outputs."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    n = 40
    sources = sources or [f"source {i}" for i in range(n)]
    references = [list(rng.choice(["w0", "w1", "w2"], size=4)) + ["?"] for _ in range(n)]
    sample = lambda: list(rng.choice(words, size=rng.integers(2, 5))) + ["?"]  # noqa: E731
    outputs = SplitOutputs(sources, references, [sample() for _ in range(n)],
                           [[[sample() for _ in range(4)] for _ in range(n)] for _ in range(3)])
    folder.mkdir(parents=True)
    outputs.write(folder / "test_outputs.jsonl.gz")
    per_run = [score(references, run, Pooling(20, appended=1)) for run in outputs.samples]
    metrics = {"checkpoint_epoch": 7, "inputs": n, "map": score(references, [[o] for o in outputs.map]),
               "sample_runs": [{"seed": s, **m} for s, m in enumerate(per_run)], "sample": average_runs(per_run)}
    (folder / "test_metrics.json").write_text(json.dumps(metrics))
    (folder / "config.json").write_text(json.dumps({"gamma_a": gamma_a, "task": "qgen", "max_decode_length": 20}))
    history = [{"epoch": e, "val_bleu2": 10.0 + e, "val_bleu4": 3.0 + e, "val_entropy": 2.0, "val_dist1": 0.1}
               for e in range(1, history_epochs + 1)]
    (folder / "history.json").write_text(json.dumps(history))
    return metrics


def test_table_shows_ours_intervals_and_the_paired_test(tmp_path):
    ours = _write_run(tmp_path / "qgen" / "ved_vattn_mean", vocab=8)
    _write_run(tmp_path / "qgen" / "ved_dattn", seed=1, vocab=3)
    table = render_table("table2", tmp_path)
    row = next(line for line in table.splitlines() if line.startswith("| VED+VAttn-h̄ | Sampling | ours (epoch 7"))
    assert f"| {ours['sample']['bleu1']:.2f} |" in row and "mean of 3 runs" in row
    interval = next(line for line in table.splitlines() if line.startswith("| VED+VAttn-h̄ | Sampling | ours, 95% interval"))
    low, high = (float(x) for x in interval.split("|")[7].strip(" []").split(","))  # the BLEU-4 column
    assert low <= ours["sample"]["bleu4"] <= high
    assert "Paired bootstrap over test inputs (1000 resamples), sampling, VED+VAttn-h̄ − VED+DAttn: " in table
    assert "| VED+DAttn (2-stage) | MAP | ours | not run |" in table
    assert "| VED+VAttn-h̄, Eq. (8) as written | Sampling | ours | not run |" in table


def test_gamma_runs_reuse_the_table_run_and_refuse_a_duplicate(tmp_path):
    _write_run(tmp_path / "qgen" / "ved_vattn_mean", gamma_a=0.1)
    assert plot_figure5(tmp_path, tmp_path / "figure5.png") == [] and not (tmp_path / "figure5.png").exists()
    _write_run(tmp_path / "qgen" / "gamma_a" / "1", gamma_a=1.0, history_epochs=3)
    runs = gamma_runs(tmp_path)
    assert list(runs) == [0.1, 1.0] and runs[0.1].name == "ved_vattn_mean"
    assert plot_figure5(tmp_path, tmp_path / "figure5.png") == [0.1, 1.0]
    assert (tmp_path / "figure5.png").stat().st_size > 0
    _write_run(tmp_path / "qgen" / "gamma_a" / "0.1", gamma_a=0.1)
    with pytest.raises(ValueError, match="both train gamma_a = 0.1"):
        gamma_runs(tmp_path)


def test_latent_curves_draw_each_run_with_z_that_records_them(tmp_path):
    from tf_varattn.reporting import plot_latent_curves
    from tf_varattn.reporting.figures import LATENT_METRICS, _line_colors

    path = tmp_path / "latents.png"
    _write_run(tmp_path / "qgen" / "ved_vattn_mean")  # a history without the diagnostics
    assert plot_latent_curves(tmp_path, path) == [] and not path.exists()
    runs = {"retrain/ved_vattn_zero": (True, "variational"), "retrain/ved_dattn": (True, "deterministic"),
            "ded_dattn": (False, "deterministic"), "seeds/ved_dattn-seed1": (True, "deterministic")}  # seeds: Figure 4
    for name, (variational, attention) in runs.items():
        run = tmp_path / "qgen" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"variational": variational, "attention": attention}))
        (run / "history.json").write_text(json.dumps([
            {"epoch": e, "val_mutual_information": 6.0 / e, "val_active_units": 100 // e,
             "val_kl_z_per_token": 1.0 / e, "val_kl_attention_per_token": 400.0 / e} for e in (1, 2, 3)]))
    assert plot_latent_curves(tmp_path, path) == ["VED+DAttn, retrained", "VED+VAttn-0, retrained"]
    assert path.stat().st_size > 0
    drawn = path.read_bytes()
    for name in runs:
        (tmp_path / "qgen" / name / "history.json").unlink()
    assert plot_latent_curves(tmp_path, path) == [] and path.read_bytes() == drawn  # never replaced by nothing
    # A line left out of one panel (KL_att of a deterministic attention) keeps its colour in the others.
    panels = {metric: [("VED+DAttn", [1], [1.0]), ("VED+VAttn-0", [1], [1.0])] for metric, _ in LATENT_METRICS}
    panels["kl_attention_per_token"] = [("VED+VAttn-0", [1], [1.0])]
    assert _line_colors(panels, LATENT_METRICS, ["red", "blue"]) == {
        "VED+DAttn": "red", "VED+VAttn-0": "blue"}


def test_case_study_finds_the_papers_sources(tmp_path):
    sources = [f"source {i}" for i in range(40)]
    sources[12] = "when the british forces evacuated at the close of the war in 1783 they transported 3000 freedmen"
    _write_run(tmp_path / "qgen" / "ved_vattn_mean", sources=sources)
    text = render_case_study(tmp_path)
    assert "## Test input 12 (paper's Table 3; our test set pairs it with another question)" in text
    assert "## Test input 0 (fixed test input)" in text
    assert "Not among these test outputs: the source containing 'more than 200000 people" in text
    section = text.split("## Test input 12")[1].split("## ")[0]
    assert section.count("\n- ") == 4  # three samples and the MAP output


def test_rows_from_other_settings_say_so(tmp_path):
    from tf_varattn.config import get_config

    run = tmp_path / "qgen" / "ded"
    _write_run(run)
    config = get_config("ded", "qgen", epochs=1, max_examples=2000, pretrained_embeddings=False).to_dict()
    (run / "config.json").write_text(json.dumps({**config, "source_vocab_size": 123}))  # data-sized: not a setting
    table = render_table("table2", tmp_path)
    assert table.splitlines()[0].endswith("— some rows NOT with the paper's settings")
    assert ("NOT the paper's settings: epochs=1, max_examples=2000, pretrained_embeddings=False)" in table)
    (run / "config.json").write_text(json.dumps(get_config("ded", "qgen").to_dict()))
    assert "NOT" not in render_table("table2", tmp_path)


def test_claims_are_checked_against_our_numbers(tmp_path):
    from tf_varattn.reporting import render_claims

    def metrics(folder, inference, **values):
        folder.mkdir(parents=True, exist_ok=True)
        base = {"bleu1": 30.0, "bleu2": 14.0, "bleu3": 8.0, "bleu4": 5.0, "entropy": 2.2, "dist1": 0.13, "dist2": 0.18}
        (folder / "test_metrics.json").write_text(json.dumps({"checkpoint_epoch": 7, inference: {**base, **values}}))

    qgen = tmp_path / "qgen"
    metrics(qgen / "ved_dattn", "sample")
    metrics(qgen / "ved_vattn_mean", "sample", bleu2=13.5, entropy=2.3, dist1=0.16, dist2=0.23)
    metrics(qgen / "ded", "map", bleu1=35.0)  # 19% above the paper's 29.31
    text = render_claims(tmp_path)
    assert "- **holds**: Table 2: variational attention gives higher entropy" in text
    assert "(BLEU-2 13.50 vs 14.00, Entropy 2.300 vs 2.200, Dist-1 0.160 vs 0.130, Dist-2 0.230 vs 0.180)" in text
    assert "- **not run yet**: Table 2: VED+VAttn-0" in text and "- **not run yet**: Table 4" in text
    assert "- table2, DED (w/o Attn), MAP, BLEU-1: ours 35.00, paper 29.31 (+19%)" in text
    metrics(qgen / "ved_vattn_mean", "sample", bleu2=11.0, entropy=2.3, dist1=0.16, dist2=0.23)  # BLEU-2 21% lower
    assert "- **does NOT hold**: Table 2: variational attention" in render_claims(tmp_path)


def test_a_number_that_rounds_to_zero_never_reads_minus_zero(tmp_path):
    from tf_varattn.reporting.paper import cell, number

    assert [number(-0.0003, 3), number(-0.0003, 3, signed=True), number(-0.0016, 3), number(0.0004, 3)] == [
        "0.000", "+0.000", "-0.002", "0.000"]
    assert [cell("bleu4", -0.004, signed=True), cell("bleu4", -0.006, signed=True), cell("entropy", None)] == [
        "+0.00", "-0.01", "–"]
    # A collapsed z's I(x; z) estimate a little below zero (as measured on a cyclical run) in bypass.md.
    run = tmp_path / "qgen" / "latents" / "ved_dattn-cyclical"
    _write_run(run)
    latents = {"kl_z_per_token": 0.0002, "kl_attention_per_token": 0.0, "active_units": 0, "mutual_information": -0.0003}
    (run / "test_diagnostics.json").write_text(json.dumps(
        {"checkpoint_epoch": 7, "latents": latents, "bypass": {"map": {"bleu4": 5.31}, "gap_z_prior": -0.001}}))
    page = render_bypass(tmp_path)
    assert "| 0.000 | 0 | 0.000 | 5.31 | – | +0.00 |" in page and "-0.0" not in page


def test_bypass_names_the_evaluated_runs_it_cannot_show(tmp_path):
    _write_run(tmp_path / "qgen" / "ved_vattn_mean")
    _write_run(tmp_path / "qgen" / "ded_dattn")
    (tmp_path / "qgen" / "ded_dattn" / "config.json").write_text(json.dumps({"variational": False, "attention": "deterministic"}))
    measured = tmp_path / "qgen" / "gamma_a" / "1"
    _write_run(measured, gamma_a=1.0)
    latents = {"kl_z_per_token": 0.008, "kl_attention_per_token": 235.7, "active_units": 0, "mutual_information": 0.078}
    bypass = {"map": {"bleu4": 4.81}, "z_prior": {"bleu4": 4.75}, "gap_z_prior": 0.06}
    (measured / "test_diagnostics.json").write_text(json.dumps(
        {"checkpoint_epoch": 7, "latents": latents, "bypass": bypass}))
    page = render_bypass(tmp_path)
    assert "| qgen | VED+VAttn-h̄, gamma_a = 1 | 7 | 0.008 | 235.700 | 0 | 0.078 | 4.81 | 4.75 | +0.06 | – | – |" in page
    assert "No latent variable, nothing to bypass: qgen DED+DAttn." in page
    # A DED evaluated with the diagnostics shows its MAP BLEU and no latent cells (not zeros).
    (tmp_path / "qgen" / "ded_dattn" / "test_diagnostics.json").write_text(json.dumps(
        {"checkpoint_epoch": 7, "latents": dict.fromkeys(latents, 0), "bypass": {"map": {"bleu4": 5.2}}}))
    assert "| qgen | DED+DAttn | 7 | – | – | – | – | 5.20 | – | – | – | – |" in render_bypass(tmp_path)
    retrained = tmp_path / "qgen" / "retrain" / "ved_dattn"
    retrained.mkdir(parents=True)
    (retrained / "test_diagnostics.json").write_text((measured / "test_diagnostics.json").read_text())
    assert "| qgen | VED+DAttn, retrained | 7 |" in render_bypass(tmp_path)
    (retrained / "test_diagnostics.json").unlink()
    # The table's run whose retrain has the diagnostics is named as measured there, not as missing.
    mean_retrain = tmp_path / "qgen" / "retrain" / "ved_vattn_mean"
    mean_retrain.mkdir(parents=True)
    (mean_retrain / "test_diagnostics.json").write_text((measured / "test_diagnostics.json").read_text())
    covered = render_bypass(tmp_path)
    assert "the table's run was evaluated before the diagnostics existed): qgen VED+VAttn-h̄." in covered
    assert "Not measured" not in covered
    (mean_retrain / "test_diagnostics.json").unlink()
    assert "Not measured (evaluated before the diagnostics existed" in page and page.rstrip().endswith(
        "writes them at evaluation): qgen VED+VAttn-h̄.")
    (tmp_path / "qgen" / "ved_vattn_mean" / "test_metrics.json").unlink()
    assert "not measured" not in render_bypass(tmp_path).lower() and "nothing to bypass" not in render_bypass(tmp_path)


def test_scores_computed_side_by_side_equal_those_computed_in_turn(tmp_path):
    from tf_varattn.reporting import tables as reporting

    runs = [tmp_path / "qgen" / name for name in ("ved_dattn", "ved_vattn_mean", "ved_vattn_zero")]
    for seed, run in enumerate(runs):
        _write_run(run, seed=seed, vocab=4 + seed)
    serial = [reporting._compute_run_scores(run) for run in runs]
    reporting._RUN_SCORES.clear()
    reporting.preload_scores(runs + [tmp_path / "qgen" / "not_run"], workers=2)
    assert set(reporting._RUN_SCORES) == set(runs)
    for run, expected in zip(runs, serial):
        np.testing.assert_array_equal(reporting._RUN_SCORES[run].map_bleu, expected.map_bleu)
        np.testing.assert_array_equal(reporting._RUN_SCORES[run].sampling.bleu, expected.sampling.bleu)
        np.testing.assert_array_equal(reporting._RUN_SCORES[run].sampling.diversity, expected.sampling.diversity)
    serial = [scores.sampling for scores in serial]
    assert not np.array_equal(serial[0].diversity, serial[1].diversity)
    assert reporting.table_runs("table2", tmp_path)[:2] == [tmp_path / "qgen" / "ded", tmp_path / "qgen" / "ded_dattn"]
    assert reporting.table_runs("table2", tmp_path)[-1] == tmp_path / "qgen" / "ved_vattn_dirichlet"


def test_length_table_gives_output_lengths_and_brevity_penalties(tmp_path):
    from tf_varattn.reporting import tables as reporting

    run = tmp_path / "dialogue" / "ved_dattn"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"task": "dialogue", "max_decode_length": 20}))
    references = [["a", "b", "c", "d"], ["a", "b"]]  # 3 tokens a reference on average
    # MAP: 2 + 1 tokens against 6: c = 3 < r = 6, BP = exp(1 - 6 / 3). Sampling run 1: every sample
    # 4 tokens (c = 16 > r = 12, BP 1, length 4); run 2: 1 token each (c = 4, BP exp(1 - 12 / 4), length 1).
    SplitOutputs(["s0", "s1"], references, [["a", "b"], ["a"]],
                 [[[list("abcd")] * 2, [list("abcd")] * 2], [[["a"]] * 2, [["b"]] * 2]]).write(run / "test_outputs.jsonl.gz")
    reporting._RUN_SCORES.clear()
    lines = reporting._length_table(tmp_path / "dialogue", {"ved_dattn": "VED+DAttn", "ved_vattn_mean": "VED+VAttn-h̄"})
    assert "the references: 3.00" in lines[1]
    # Different samples: run 1 holds one output per input, run 2 one ("a") and one ("b"): 1 on average.
    assert lines[-1] == (f"| VED+DAttn | 1.50 | {np.exp(1 - 6 / 3):.3f} | 2.50 | {(1 + np.exp(1 - 12 / 4)) / 2:.3f} "
                         "| 1.00 |")
    assert len(lines) == 6  # the run without outputs has no row
    reporting._RUN_SCORES.clear()
    assert reporting._length_table(tmp_path / "qgen", {"ded": "DED"}) == []
    different = tmp_path / "qgen" / "ved_dattn"
    different.mkdir(parents=True)
    (different / "config.json").write_text(json.dumps({"task": "qgen", "max_decode_length": 20}))
    SplitOutputs(["s0", "s1"], references, [["a"], ["a"]],
                 [[[["a"], ["b"], ["a"]], [["c"], ["c"], ["c"]]]]).write(different / "test_outputs.jsonl.gz")
    assert reporting._length_table(tmp_path / "qgen", {"ved_dattn": "VED+DAttn"})[-1].endswith("| 1.50 |")  # (2 + 1) / 2


def test_a_report_without_runs_never_replaces_one_with_runs_and_a_replacement_says_what_changed(tmp_path):
    from tf_varattn.reporting.publish import PublishError, check_runs_root, publish, runs_behind

    root = tmp_path / "runs"
    _write_run(root / "qgen" / "ved_dattn")
    assert runs_behind("table2", root) == [root / "qgen" / "ved_dattn"] and runs_behind("table4", root) == []
    assert runs_behind("claims", root) == [root / "qgen" / "ved_dattn"] and runs_behind("bypass", root) == []
    committed = tmp_path / "table4.md"
    committed.write_text("| DED+DAttn | ours | 1.00 |\n")
    message = publish(committed, "| DED+DAttn | ours | not run |\n", runs_behind("table4", root))
    assert message.startswith("Kept") and committed.read_text() == "| DED+DAttn | ours | 1.00 |\n"
    # With runs behind it, a replacement is written (recording its runs) and its changed rows printed.
    message = publish(committed, "| DED+DAttn | ours | 1.20 |\n", [root / "qgen" / "ved_dattn"], runs_root=root)
    assert committed.read_text() == "| DED+DAttn | ours | 1.20 |\n\n<!-- runs behind this report: qgen/ved_dattn -->\n"
    assert "1 line(s) replaced by 3" in message and "-| DED+DAttn | ours | 1.00 |" in message
    assert "+| DED+DAttn | ours | 1.20 |" in message
    assert publish(committed, "| DED+DAttn | ours | 1.20 |\n", [root / "qgen" / "ved_dattn"],
                   runs_root=root).startswith("Unchanged")
    fresh = tmp_path / "new.md"
    assert publish(fresh, "not run\n", []).startswith("Wrote") and fresh.read_text() == "not run\n"
    # An empty or missing runs root is refused, naming what it holds.
    (tmp_path / "empty" / "qgen").mkdir(parents=True)
    with pytest.raises(PublishError, match=r"holds no evaluated run .*\['qgen'\]"):
        check_runs_root(tmp_path / "empty")
    with pytest.raises(PublishError, match="is not a directory"):
        check_runs_root(tmp_path / "absent")
    check_runs_root(root)


def test_a_damaged_run_file_is_named_with_the_command_that_writes_it_again(tmp_path):
    root = tmp_path / "runs"
    run = root / "qgen" / "ved_dattn"
    _write_run(run)
    text = (run / "test_metrics.json").read_text()
    (run / "test_metrics.json").write_text(text[: len(text) // 2])
    # A published copy (no model beside it) is restored, not evaluated again.
    with pytest.raises(ValueError, match=rf"{run / 'test_metrics.json'} is damaged.*restore it \(git checkout -- "):
        render_table("table2", root)
    (run / "checkpoints").mkdir()  # a run directory with its model: evaluated again
    with pytest.raises(ValueError, match=rf"{run / 'test_metrics.json'} is damaged.*evaluate.py --run_dir {run}"):
        render_table("table2", root)


def _metrics_run(folder, seed, sample, map_metrics=None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"seed": seed, "task": "qgen", "max_decode_length": 20}))
    (folder / "test_metrics.json").write_text(json.dumps({"checkpoint_epoch": 7, "map": map_metrics or sample,
                                                          "sample": sample}))


def test_seeds_table_and_a_claim_that_holds_in_two_of_three_seeds(tmp_path):
    from tf_varattn.reporting import render_claims, render_seeds, seed_runs

    qgen = tmp_path / "qgen"
    base = {"bleu1": 30.0, "bleu2": 14.0, "bleu3": 8.0, "bleu4": 5.0, "dist1": 0.15, "dist2": 0.2}
    # VED+VAttn-h̄ more diverse than VED+DAttn in seeds 0 and 1, not in seed 2 (entropy lower there).
    for seed, (vattn, dattn) in enumerate([(2.33, 2.22), (2.35, 2.23), (2.20, 2.25)]):
        folders = (qgen / "ved_vattn_mean", qgen / "ved_dattn") if seed == 0 else \
            (qgen / "seeds" / f"ved_vattn_mean-seed{seed}", qgen / "seeds" / f"ved_dattn-seed{seed}")
        _metrics_run(folders[0], seed, {**base, "entropy": vattn, "dist1": 0.16, "dist2": 0.24})
        _metrics_run(folders[1], seed, {**base, "entropy": dattn})
    (qgen / "seeds" / "ved_dattn-reference-seed0").mkdir()  # another protocol's run: not a seed of the model
    assert list(seed_runs(qgen, "ved_dattn")) == [0, 1, 2]
    seeds = render_seeds(tmp_path)
    # Entropy of VED+VAttn-h̄: 2.33, 2.35, 2.20 -> mean 2.293, sd 0.0814; paper 2.316.
    assert "| Entropy | 2.330 | 2.350 | 2.200 | 2.293 | 0.0814 | 2.316 |" in seeds
    assert "## table2: VED+VAttn-h̄, sampling" in seeds and "table4" not in seeds.split("One training run")[0]
    claims = render_claims(tmp_path)
    # A claim over every metric (2-stage) judges the means on all of them.
    for seed in range(3):
        folder = qgen / "ved_dattn_2stage" if seed == 0 else qgen / "seeds" / f"ved_dattn_2stage-seed{seed}"
        _metrics_run(folder, seed, {**{k: v - 1 for k, v in base.items()}, "entropy": 2.0})
    claims = render_claims(tmp_path)
    assert "- Table 2: 2-stage training below variational attention in every metric: holds in 3 of 3" in claims
    line = next(l for l in claims.splitlines() if l.startswith("- Table 2: VED+VAttn-h̄ more diverse"))
    assert "holds in 2 of 3 seeds (0, 1, 2)" in line and "on the means of 3 and 3 runs: holds" in line
    # Entropy: means 2.2933 - 2.2333 = +0.060, within the seed spread; Dist-1 +0.010 with no spread at all.
    assert "Entropy +0.060 [" in line and "], within the seed spread" in line
    assert "Dist-1 +0.010 (no interval)" in line
    # A model with one run has no spread: its claims stay out of the across-seeds section.
    _metrics_run(qgen / "ved_vattn_zero", 0, {**base, "entropy": 2.4})
    across = render_claims(tmp_path).split("## Across training seeds")[1].split("## Cells")[0]
    assert "VED+VAttn-0" not in across and "VED+VAttn-h̄ more diverse" in across


def test_table4_shows_the_controlled_runs_epoch_by_epoch(tmp_path):
    dialogue = tmp_path / "dialogue"
    for run, protocol, seed, length in ((dialogue / "ded_dattn", None, 0, None),
                                        (dialogue / "seeds" / "ded_dattn-seed1", "ours", 1, 3.88),
                                        (dialogue / "seeds" / "ded_dattn-reference-seed0", "reference", 0, 9.5)):
        run.mkdir(parents=True)
        config = {"seed": seed, **({"protocol": protocol} if protocol else {})}
        (run / "config.json").write_text(json.dumps(config))
        history = [{"epoch": e, "val_bleu1": 2.0 + e, "val_bleu2": 0.5 + e / 10, "val_bleu3": 0.3, "val_bleu4": 0.2,
                    **({"val_length": length, "val_brevity_penalty": 0.1} if length else {})} for e in (1, 2, 3, 4)]
        (run / "history.json").write_text(json.dumps(history))
    text = render_table("table4", tmp_path)
    assert "| DED+DAttn | `ded_dattn` | ours | 0 | 1 | 3.00 | 0.60 | 0.30 | 0.20 | – | – |" in text
    assert "| DED+DAttn | `seeds/ded_dattn-seed1` | ours | 1 | 3 | 5.00 | 0.80 | 0.30 | 0.20 | 3.88 | 0.100 |" in text
    assert "| DED+DAttn | `seeds/ded_dattn-reference-seed0` | reference | 0 | 2 |" in text
    assert "| 4 |" not in text  # the first three epochs only
    from tf_varattn.reporting import render_claims

    # The seed spread of validation BLEU-2 at epoch 3 (ours protocol): seeds 0 and 1, both 0.80.
    assert "over seeds 0, 1: 0.80, 0.80 (mean 0.80, sd 0.00)" in render_claims(tmp_path)


def test_figure4_band_spans_the_seeds_at_each_epoch_two_of_them_reached(tmp_path, monkeypatch):
    from tf_varattn.reporting import figures
    from tf_varattn.reporting.figures import plot_figure4, seed_band

    histories = [[{"epoch": e, "val_bleu2": v} for e, v in enumerate(values, 1)]
                 for values in ([10.0, 12.0, 13.0], [11.0, 11.5], [9.0])]
    assert seed_band(histories, "bleu2") == ([1, 2], [9.0, 11.5], [11.0, 12.0])  # epoch 3: one run only
    qgen = tmp_path / "qgen"
    _write_run(qgen / "ved_vattn_mean", history_epochs=3)  # history val_bleu2 11, 12, 13
    _write_run(qgen / "seeds" / "ved_vattn_mean-seed1", seed=1, history_epochs=2)  # 11, 12: the same
    (qgen / "seeds" / "ved_vattn_mean-seed1" / "history.json").write_text(json.dumps(
        [{"epoch": 1, "val_bleu2": 9.5}, {"epoch": 2, "val_bleu2": 12.5}]))
    _write_run(qgen / "ved_dattn", history_epochs=3)
    drawn_rows = []
    monkeypatch.setattr(figures, "plot_curve_rows", lambda rows, path, **kw: drawn_rows.extend(rows))
    assert plot_figure4(tmp_path, tmp_path / "figure4.png") == ["ved_dattn", "ved_vattn_mean"]
    lines = {line[0]: line for line in drawn_rows[0][2]["bleu2"]}
    assert set(lines) == {"VED+DAttn", "VED+VAttn-h̄ (band: 2 seeds)"}
    assert len(lines["VED+DAttn"]) == 3  # one run: no band
    assert lines["VED+VAttn-h̄ (band: 2 seeds)"][3] == ([1, 2], [9.5, 12.0], [11.0, 12.5])
    monkeypatch.undo()  # and the band is drawn for real
    plot_figure4(tmp_path, tmp_path / "figure4.png")
    assert (tmp_path / "figure4.png").stat().st_size > 10_000


def test_reproduce_sh_trains_the_runs_the_package_lists(tmp_path):
    """One source for a table's composition: reproduce.sh's plan is paper.table_runs."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tf_varattn.reporting.paper import table_runs

    runs = table_runs("table2")
    assert [preset for preset, *_ in runs] == ["ded", "ded_dattn", "ved_dattn", "ved_dattn_2stage", "ved_vattn_zero",
                                               "ved_vattn_mean", "ved_vattn_mean"]
    assert runs[-1] == ("ved_vattn_mean", "ved_vattn_mean_kl_sum", ["--attention_kl=sum"])
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "VARATTN_VENV": str(Path(sys.executable).parents[1]), "VARATTN_RUNS": str(tmp_path)}
    for table, task in (("table2", "qgen"), ("table4", "dialogue"), ("latents", "qgen")):
        result = subprocess.run(["bash", str(root / "reproduce.sh"), "plan", table, "--seed=3"], capture_output=True,
                                text=True, env=env, cwd=root)
        assert result.returncode == 0, result.stderr
        assert [line.split() for line in result.stdout.splitlines()] == [
            [preset, str(tmp_path / task / name), *flags, "--seed=3"] for preset, name, flags in table_runs(table)]
    result = subprocess.run(["bash", str(root / "reproduce.sh"), "plan", "table9"], capture_output=True, text=True,
                            env=env, cwd=root)
    assert result.returncode != 0 and "Unknown table 'table9'; valid tables: table2, table4." in result.stderr
    # The collapse study: each attention with each remedy, every run a valid config of its preset.
    from tf_varattn.config import get_config
    from tf_varattn.config_flags import pairs_to_dict

    study = table_runs("latents")
    assert len(study) == 10 and {name.split("/")[0] for _, name, _ in study} == {"latents"}
    for preset, name, flags in study:
        config = get_config(preset, **pairs_to_dict([flag[2:] for flag in flags]))
        remedy = name.rsplit("-", 1)[1]
        assert {"none": config.kl_schedule == "capped_tanh" and config.free_bits == 0 and config.bow_loss_weight == 0,
                "free_bits": config.free_bits == 0.1, "bow": config.bow_loss_weight == 1.0,
                "cyclical": config.kl_schedule == "cyclical" and config.kl_cycles == 4,
                "logistic": config.kl_schedule == "logistic"}[remedy]


def _likelihood(nll, elbo, epoch=7):
    interval = lambda v: {"value": v, "low": v - 0.1, "high": v + 0.1}  # noqa: E731
    return {"checkpoint_epoch": epoch, "inputs": 1000, "num_samples": 50, "negative_elbo": interval(elbo),
            "kl_z": interval(0.01), "kl_attention": interval(0.5), "reconstruction": interval(elbo - 0.51),
            "nll": interval(nll), "perplexity": {"value": float(np.exp(nll))},
            "convergence": [{"num_samples": 1, "nll": elbo}, {"num_samples": 50, "nll": nll}]}


def test_the_collapse_study_report_and_figure(tmp_path):
    from tf_varattn.reporting.latents import plot_latent_study, render_latents

    bow = tmp_path / "qgen" / "latents" / "ved_vattn_mean-bow"
    metrics = _write_run(bow)
    (bow / "test_diagnostics.json").write_text(json.dumps({
        "checkpoint_epoch": 7, "latents": {"kl_z_per_token": 0.512, "kl_attention_per_token": 3.25,
                                           "active_units": 17, "mutual_information": 2.75},
        "bypass": {"gap_z_prior": -1.5, "gap_attention_prior": -4.25}}))
    (bow / "test_likelihood.json").write_text(json.dumps(_likelihood(3.5, 3.75)))
    sources = {name: {"entropy": e, "dist2": 0.2, "bleu4": 4.0} for name, e in (("z", 1.5), ("attention", 2.0),
                                                                                ("both", 2.25))}
    (bow / "test_diversity_sources.json").write_text(json.dumps({"sources": sources}))
    _write_run(tmp_path / "qgen" / "latents" / "ved_dattn-none", seed=2)  # evaluated before the new files
    ded = tmp_path / "qgen" / "ded_dattn"
    _write_run(ded, seed=3)
    (ded / "test_likelihood.json").write_text(json.dumps(_likelihood(3.25, 3.25)))
    text = render_latents(tmp_path)
    quality = next(line for line in text.splitlines() if line.startswith("| VED+VAttn-h̄ | bag-of-words loss"))
    assert f"| {metrics['map']['bleu4']:.2f} |" in quality and f"| {metrics['sample']['entropy']:.3f} |" in quality
    row = [line for line in text.splitlines() if line.startswith("| VED+VAttn-h̄ | bag-of-words loss")][1]
    assert "| 0.512 | 3.250 | 17 | 2.750 | -1.50 | -4.25 | 3.750 | 3.500 [3.400, 3.600] | 33.1 | 50 | 1000 |" in row
    assert "| VED+VAttn-h̄ | bag-of-words loss, weight 1 | 1.500 / 0.200 / 4.00 | 2.000 / 0.200 / 4.00 | 2.250 / 0.200 / 4.00 |" in text
    none_row = [line for line in text.splitlines() if line.startswith("| VED+DAttn | nothing")][1]
    assert none_row.count("–") == 11  # nothing measured yet: dashes, not zeros
    assert "| qgen | DED+DAttn | 7 | 3.250 |" in text  # the other models' likelihood
    assert "| qgen VED+VAttn-h̄, bag-of-words loss, weight 1 | 3.750 | 3.500 |" in text  # K = 1, K = 50
    assert plot_latent_study(tmp_path, tmp_path / "study.png") == ["VED+VAttn-h̄, bow"]
    assert (tmp_path / "study.png").stat().st_size > 0


def test_the_collapse_study_training_curves(tmp_path, monkeypatch):
    """One row per attention, one line per remedy with the history's values (also a run still
    training); a remedy keeps its colour in both rows even where a row lacks another remedy."""
    from tf_varattn.reporting import latents

    folder = tmp_path / "qgen" / "latents"
    path = tmp_path / "curves.png"
    assert latents.plot_latent_study_curves(tmp_path, path) == [] and not path.exists()
    histories = {"ved_dattn-free_bits": [0.5, 2.0], "ved_dattn-logistic": [0.25, 0.0, 0.0],
                 "ved_vattn_mean-logistic": [0.75]}  # I(x; z) per epoch; the last still training, no test files
    for name, information in histories.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "history.json").write_text(json.dumps(
            [{"epoch": e, "kl_weight": 0.1 * e, "val_mutual_information": i, "val_active_units": 10 * e,
              "val_bleu4": 3.0, "val_entropy": 2.0} for e, i in enumerate(information, 1)]))
    drawn = {}
    monkeypatch.setattr(latents, "plot_curve_rows", lambda rows, path, metrics, **kw: drawn.update(rows=rows, **kw))
    assert latents.plot_latent_study_curves(tmp_path, path) == [
        "ved_dattn-free_bits", "ved_dattn-logistic", "ved_vattn_mean-logistic"]
    (dattn, _, first), (vattn, _, second) = drawn["rows"]
    assert (dattn, vattn) == ("epoch (VED+DAttn)", "epoch (VED+VAttn-h̄)")
    assert first["val_mutual_information"] == [("free bits, 0.1 nat per dimension", [1, 2], [0.5, 2.0]),
                                               ("logistic KL weight to 1", [1, 2, 3], [0.25, 0.0, 0.0])]
    assert second["kl_weight"] == [("logistic KL weight to 1", [1], [0.1])]
    colors = drawn["colors"]
    assert len(set(colors.values())) == len(colors) == 5  # one colour per remedy, whichever row draws it
    monkeypatch.undo()
    latents.plot_latent_study_curves(tmp_path, path)
    assert path.stat().st_size > 10_000


def test_the_collapse_study_across_training_seeds(tmp_path):
    """Rows trained with several seeds get each number's mean and sample standard deviation (by hand);
    a seed without a file is counted out, not as zero; seed runs are study runs, not "other models"."""
    from tf_varattn.reporting.latents import render_latents, study_seed_runs

    folder = tmp_path / "qgen" / "latents"
    runs = [folder / "ved_dattn-free_bits", folder / "seeds" / "ved_dattn-free_bits-seed1",
            folder / "seeds" / "ved_dattn-free_bits-seed2"]
    bleu = []
    for seed, (run, units, information) in enumerate(zip(runs, (10, 20, 30), (1.0, 2.0, 3.0))):
        bleu.append(_write_run(run, seed=seed)["map"]["bleu4"])
        (run / "test_diagnostics.json").write_text(json.dumps({
            "checkpoint_epoch": 7, "latents": {"kl_z_per_token": 0.5, "active_units": units,
                                               "mutual_information": information}, "bypass": {"gap_z_prior": 2.0}}))
        if seed < 2:
            (run / "test_likelihood.json").write_text(json.dumps(_likelihood(3.0 + seed, 3.5 + seed)))
        sources = {name: {"entropy": entropy, "dist2": 0.2, "bleu4": 4.0}
                   for name, entropy in (("z", 2.0 + seed / 10), ("attention", 1.5), ("both", 2.5))}
        (run / "test_diversity_sources.json").write_text(json.dumps({"sources": sources}))
    _write_run(folder / "ved_vattn_mean-free_bits", seed=5)  # one seed only: no row across seeds
    assert study_seed_runs(tmp_path) == {("ved_dattn", "free_bits"): dict(enumerate(runs)),
                                        ("ved_vattn_mean", "free_bits"): {0: folder / "ved_vattn_mean-free_bits"}}
    text = render_latents(tmp_path)
    section = text.split("## Across training seeds", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| VED")]
    assert len(rows) == 1 and rows[0].startswith("| VED+DAttn | free bits, 0.1 nat per dimension | 0, 1, 2 | ")
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")][3:]
    mean, sd = np.mean(bleu), np.std(bleu, ddof=1)
    assert cells[0] == f"{mean:.2f} ± {sd:.2f}"
    assert cells[4:9] == ["0.500 ± 0.000", "20.0 ± 10.0", "2.000 ± 1.000", "+2.00 ± 0.00", "–"]
    assert cells[9] == f"3.500 ± {np.std([3.0, 4.0], ddof=1):.3f} (2 of 3)"
    assert cells[10:] == ["2.100 ± 0.100", "1.500 ± 0.000"]  # where the diversity comes from, over the seeds
    assert "## The likelihood of the other models" not in text  # the seed runs are the study's
    assert "| qgen VED+DAttn, free bits, 0.1 nat per dimension, seed 1 | 4.500 | 4.000 |" in text
    # The picture: the seed-0 point named, the other seeds drawn beside it (hollow) and recorded.
    from tf_varattn.reporting.latents import plot_latent_study

    said = []
    assert plot_latent_study(tmp_path, tmp_path / "study.png", log=said.append) == ["VED+DAttn, free_bits"]
    assert said == [f"Wrote {tmp_path / 'study.png'} (3 run(s) behind it)"]
    # Two runs that claim one seed: named, never one of them silently dropped.
    _write_run(folder / "seeds" / "ved_vattn_mean-free_bits-seed5")
    json_config = folder / "ved_vattn_mean-free_bits" / "config.json"
    json_config.write_text(json.dumps({**json.loads(json_config.read_text()), "seed": 5}))
    with pytest.raises(ValueError, match="both hold seed 5 of ved_vattn_mean with free_bits"):
        study_seed_runs(tmp_path)


def test_the_collapse_study_compares_the_attentions_across_training_seeds(tmp_path):
    """VED+VAttn-h̄ minus VED+DAttn over their seeds: the difference of the seed means with Welch's
    t-interval computed by hand; no interval where no seed moves; no row for a remedy only one
    attention has several seeds of."""
    from scipy.stats import t as student_t

    from tf_varattn.reporting.latents import render_latents

    folder = tmp_path / "qgen" / "latents"
    entropies = {"ved_dattn": [2.10, 2.14, 2.18], "ved_vattn_mean": [2.25, 2.29]}
    for preset, values in entropies.items():
        for seed, entropy in enumerate(values):
            run = folder / f"{preset}-free_bits" if seed == 0 else folder / "seeds" / f"{preset}-free_bits-seed{seed}"
            metrics = _write_run(run, seed=seed)
            metrics["sample"]["entropy"], metrics["map"]["bleu4"] = entropy, 5.0  # MAP BLEU-4 the same in every run
            (run / "test_metrics.json").write_text(json.dumps(metrics))
            config = json.loads((run / "config.json").read_text())
            (run / "config.json").write_text(json.dumps({**config, "seed": seed}))
    for seed in (0, 1):  # the bag-of-words loss: several seeds of VED+DAttn only
        _write_run(folder / "ved_dattn-bow" if seed == 0 else folder / "seeds" / f"ved_dattn-bow-seed{seed}", seed=seed)
    section = render_latents(tmp_path).split("## Across training seeds", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| free bits")]
    assert len(rows) == 1 and not any(line.startswith("| bag-of-words") for line in section.splitlines())
    remedy, seeds, map_bleu, _, entropy, _ = (cell.strip() for cell in rows[0].strip("|").split("|"))
    assert seeds == "0, 1, 2 / 0, 1" and map_bleu == "+0.00 (no interval)"
    a, b = np.var(entropies["ved_vattn_mean"], ddof=1) / 2, np.var(entropies["ved_dattn"], ddof=1) / 3
    df = (a + b) ** 2 / (a ** 2 / 1 + b ** 2 / 2)  # Welch-Satterthwaite
    half = student_t.ppf(0.975, df) * np.sqrt(a + b)
    difference = np.mean(entropies["ved_vattn_mean"]) - np.mean(entropies["ved_dattn"])
    assert entropy == f"+0.130 [{difference - half:+.3f}, {difference + half:+.3f}]" == "+0.130 [+0.030, +0.230]"


def test_the_collapse_study_trains_other_seeds_of_chosen_remedies(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tf_varattn.reporting.paper import study_runs

    assert study_runs(["free_bits"], [0, 2]) == [
        ("ved_dattn", "latents/ved_dattn-free_bits", ["--free_bits=0.1"]),
        ("ved_vattn_mean", "latents/ved_vattn_mean-free_bits", ["--free_bits=0.1"]),
        ("ved_dattn", "latents/seeds/ved_dattn-free_bits-seed2", ["--free_bits=0.1", "--seed=2"]),
        ("ved_vattn_mean", "latents/seeds/ved_vattn_mean-free_bits-seed2", ["--free_bits=0.1", "--seed=2"])]
    with pytest.raises(ValueError, match="Unknown remedy 'free_bit'; valid remedies: bow, free_bits"):
        study_runs(["free_bit"])
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "VARATTN_VENV": str(Path(sys.executable).parents[1]), "VARATTN_RUNS": str(tmp_path)}
    result = subprocess.run(["bash", str(root / "reproduce.sh"), "plan", "latents"], capture_output=True, text=True,
                            env={**env, "VARATTN_SEEDS": "1 2", "VARATTN_REMEDIES": "none"}, cwd=root)
    assert result.returncode == 0, result.stderr
    assert [line.split()[1] for line in result.stdout.splitlines()] == [
        str(tmp_path / "qgen" / "latents" / "seeds" / f"{preset}-none-seed{seed}")
        for seed in (1, 2) for preset in ("ved_dattn", "ved_vattn_mean")]
    result = subprocess.run(["bash", str(root / "reproduce.sh"), "latents"], capture_output=True, text=True,
                            env={**env, "VARATTN_SEEDS": "one"}, cwd=root)
    assert result.returncode == 2 and "Seeds are integers separated by commas or spaces" in result.stderr
    assert not (tmp_path / "qgen").exists()  # nothing trained


def test_a_partial_runs_root_never_replaces_a_report_or_figure_built_on_more_runs(tmp_path):
    """A results copy whose runs/ holds only one task: every report and figure drawn from both is kept."""
    from tf_varattn.reporting import plot_latent_curves
    from tf_varattn.reporting.publish import publish

    full, partial = tmp_path / "full", tmp_path / "partial"
    for root, tasks in ((full, ("qgen", "dialogue")), (partial, ("dialogue",))):
        for task in tasks:
            run = root / task / "retrain" / "ved_dattn"
            run.mkdir(parents=True)
            (run / "config.json").write_text(json.dumps({"variational": True, "attention": "deterministic"}))
            (run / "history.json").write_text(json.dumps([{"epoch": 1, "val_mutual_information": 1.0,
                                                           "val_active_units": 3, "val_kl_z_per_token": 0.1}]))
    report, figure = tmp_path / "bypass.md", tmp_path / "latents.png"
    both = [full / "qgen" / "retrain" / "ved_dattn", full / "dialogue" / "retrain" / "ved_dattn"]
    assert publish(report, "two rows\n", both, runs_root=full).startswith("Wrote")
    message = publish(report, "one row\n", [partial / "dialogue" / "retrain" / "ved_dattn"], runs_root=partial)
    assert message.startswith(f"Kept {report}: 1 run(s) behind it are not under this runs root (qgen/retrain/ved_dattn)")
    assert report.read_text().startswith("two rows")
    messages = []
    assert plot_latent_curves(full, figure, log=messages.append) == ["VED+DAttn, retrained"]
    drawn = figure.read_bytes()
    assert plot_latent_curves(partial, figure, task="dialogue", log=messages.append) == ["VED+DAttn, retrained"]
    assert figure.read_bytes() == drawn and messages[-1].startswith(f"Kept {figure}: 1 run(s) behind it")
    # The same runs (another root holding them all) replace it.
    plot_latent_curves(full, figure, log=messages.append)
    assert messages[-1].startswith(f"Wrote {figure}")


def test_the_latent_study_writes_every_perplexity_readably():
    from tf_varattn.reporting.latents import _perplexity

    assert _perplexity({}) == "–"
    assert _perplexity({"perplexity": {"value": None}}) == "> 1e308"
    assert _perplexity({"perplexity": {"value": 139.00132}}) == "139.0"
    assert _perplexity({"perplexity": {"value": 9.030939622886574e195}}) == "9.03e+195"


def test_each_remedy_is_compared_with_no_remedy_on_the_same_inputs(tmp_path):
    from tf_varattn.reporting.latents import render_latents

    study = tmp_path / "qgen" / "latents"
    free_bits = _write_run(study / "ved_dattn-free_bits", vocab=8)  # same seed: the same references
    assert "Not yet: no run without a remedy (`latents/<model>-none`) is evaluated." in render_latents(tmp_path)
    baseline = _write_run(study / "ved_dattn-none", vocab=3)
    (study / "ved_dattn-free_bits" / "test_likelihood.json").write_text(json.dumps(_likelihood(4.25, 4.5)))
    (study / "ved_dattn-none" / "test_likelihood.json").write_text(json.dumps(_likelihood(4.5, 4.75)))
    text = render_latents(tmp_path)
    row = next(line for line in text.split("## Each remedy against no remedy")[1].splitlines()
               if line.startswith("| VED+DAttn | free bits"))
    cells = [c.strip() for c in row.strip("|").split("|")][2:]
    # The point differences are the differences of the two runs' own metrics (score() in evaluation.py).
    for (rows, metric, digits), text_cell in zip((("map", "bleu4", 2), ("sample", "bleu4", 2), ("sample", "entropy", 3),
                                                  ("sample", "dist2", 3)), cells):
        difference = free_bits[rows][metric] - baseline[rows][metric]
        value, low, high = (float(x) for x in text_cell.replace("[", "").replace("]", "").replace(",", "").split())
        assert value == pytest.approx(difference, abs=1.01 * 10 ** -digits) and low <= value <= high  # both rounded
        assert text_cell.startswith("+" if difference > 0 else "-")
    assert cells[4] == "-0.250"
    assert "| VED+DAttn | nothing" not in text.split("## Each remedy against no remedy")[1].split("##")[0]
    assert "Not yet for VED+VAttn-h̄: its run without a remedy is not evaluated." in text


def test_variational_attention_is_compared_with_deterministic_per_remedy(tmp_path):
    from tf_varattn.reporting.latents import render_latents

    study = tmp_path / "qgen" / "latents"
    deterministic = _write_run(study / "ved_dattn-bow", vocab=3)
    assert "against VED+DAttn, per remedy" not in render_latents(tmp_path)  # one attention only: nothing to pair
    variational = _write_run(study / "ved_vattn_mean-bow", vocab=8)  # same seed: the same references
    _write_run(study / "ved_vattn_mean-logistic", vocab=5)  # no VED+DAttn partner: no row
    text = render_latents(tmp_path).split("## VED+VAttn-h̄ against VED+DAttn, per remedy")[1].split("\n## ")[0]
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Remedy")]
    assert len(rows) == 2 and rows[1].startswith("| bag-of-words loss, weight 1 |")  # the separator, then bow
    cells = [c.strip() for c in rows[1].strip("|").split("|")][1:]
    for (outputs, metric, digits), text_cell in zip((("map", "bleu4", 2), ("sample", "entropy", 3)), cells[::2]):
        value = float(text_cell.split()[0])
        assert value == pytest.approx(variational[outputs][metric] - deterministic[outputs][metric],
                                      abs=1.01 * 10 ** -digits)
    assert cells[4] == "–"  # no likelihood files
