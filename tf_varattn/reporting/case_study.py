"""The case study (Table 3): samples of VED+DAttn and VED+VAttn-h̄ for the paper's two sources and
three fixed test inputs, from the runs' committed outputs."""

from __future__ import annotations

import os
from pathlib import Path

from tf_varattn.evaluation import SplitOutputs
from tf_varattn.reporting.paper import NAMES


# The case study (Table 3): the paper's two sources, found by a phrase (the row with the paper's
# reference when the test set pairs the source with several questions), and three fixed test inputs.
CASE_STUDY_PHRASES = {
    "the british forces evacuated at the close of the war in 1783": "in what year did the american revolutionary war end ?",
    "more than 200000 people were evacuated from mianyang": "how many people were evacuated downstream ?",
}
CASE_STUDY_INDICES = (0, 4000, 8000)
CASE_STUDY_MODELS = ("ved_dattn", "ved_vattn_mean")


def render_case_study(runs_root: os.PathLike, task: str = "qgen", samples: int = 3) -> str:
    """Markdown: for each case input, its source and reference, then ``samples`` samples (first
    sampling run) and the MAP output of each model, read from the runs' ``test_outputs.jsonl.gz``."""
    outputs = {}
    for preset in CASE_STUDY_MODELS:
        path = Path(runs_root) / task / preset / "test_outputs.jsonl.gz"
        if path.is_file():
            outputs[preset] = SplitOutputs.read(path)
    lines = ["# Case study (Table 3): question generation, test inputs", ""]
    if not outputs:
        return "\n".join(lines + [f"No test outputs yet for {', '.join(CASE_STUDY_MODELS)}.", ""])
    first = next(iter(outputs.values()))
    cases, absent = [], []
    for phrase, paper_reference in CASE_STUDY_PHRASES.items():
        found = [i for i, source in enumerate(first.sources) if phrase in source]
        if found:
            same = [i for i in found if " ".join(first.references[i]) == paper_reference]
            cases.append(((same or found)[0], "paper's Table 3" + ("" if same else "; our test set pairs it with another question")))
        else:
            absent.append(phrase)
    cases += [(index, "fixed test input") for index in CASE_STUDY_INDICES if index < len(first.sources)]
    lines.append(f"{samples} samples from the first sampling run (seed 0) and the MAP output of each model; "
                 "the first two sources are the paper's.")
    missing = [NAMES[preset] for preset in CASE_STUDY_MODELS if preset not in outputs]
    if missing:
        lines += ["", f"No test outputs yet for {', '.join(missing)} (its run predates the kept outputs)."]
    if absent:
        lines += ["", "Not among these test outputs: " + "; ".join(f"the source containing {p!r}" for p in absent) + "."]
    for index, why in cases:
        lines += ["", f"## Test input {index} ({why})", "", f"Source: {first.sources[index]}", "",
                  f"Reference: {' '.join(first.references[index])}"]
        for preset, run in outputs.items():
            lines += ["", f"{NAMES[preset]}:", ""]
            lines += [f"- {' '.join(sample)}" for sample in (run.samples[0][index][:samples] if run.samples else [])]
            lines.append(f"- MAP: {' '.join(run.map[index])}")
    return "\n".join(lines) + "\n"
