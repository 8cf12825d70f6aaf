"""Outputs of small trained models for a fixed seed, kept in ``data/reference_outputs.json`` so that
a refactor of the model or the decoding is checked against the outputs of the code before it
(``test_reference_outputs.py``). Regenerate only for a change that is meant to move the numbers,
and say what moved and why:

    python tests/models/reference_outputs.py
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tf_varattn.config import get_config
from tf_varattn.data.pipeline import pad_sequences
from tf_varattn.models import build_model
from tf_varattn.training.step import make_train_step

PATH = Path(__file__).parent / "data" / "reference_outputs.json"
PRESETS = ("ded", "ded_dattn", "ved_dattn", "ved_dattn_2stage", "ved_vattn_zero", "ved_vattn_mean")
VOCAB = 40
SMALL = dict(source_vocab_size=VOCAB, target_vocab_size=VOCAB, embedding_dim=16, encoder_units=8,
             decoder_units=16, latent_dim=4, attentional_dim=8, max_decode_length=8, attention_start_epoch=0)
TRAIN_STEPS = 15


def toy_data(n=24, seed=3):
    rng = np.random.default_rng(seed)
    sources = [[int(t) for t in rng.integers(4, VOCAB, rng.integers(3, 8))] for _ in range(n)]
    targets = [list(reversed(s))[:5] + [3] for s in sources]  # reversed prefix, then EOS
    source_ids, source_length = pad_sequences(sources)
    target_ids, target_length = pad_sequences(targets)
    batch = {"source_ids": tf.constant(source_ids), "source_length": tf.constant(source_length),
             "target_ids": tf.constant(target_ids), "target_length": tf.constant(target_length)}
    return sources, batch


def reference_outputs(preset: str, decode) -> dict:
    """Training losses of ``TRAIN_STEPS`` steps, the evaluation-mode losses, MAP outputs and
    sampled outputs (seed 0, 3 samples) of one small model. ``decode(model, sources, mode,
    num_samples)`` is the decoding under test: ``[N, num_samples, max_length]`` ids."""
    keras.utils.set_random_seed(0)
    model = build_model(get_config(preset, **SMALL))
    sources, batch = toy_data()
    step = make_train_step(model)
    train_losses = [float(step(batch)["loss"]) for _ in range(TRAIN_STEPS)]
    evaluation = model.compute_losses(batch, 0.5, training=False)
    map_ids = decode(model, sources, "map", 1)
    model.reseed(0)
    sample_ids = decode(model, sources, "sample", 3)
    return {
        "train_losses": train_losses,
        "eval_loss": float(evaluation["loss"]),
        "eval_kl_attention": float(evaluation["kl_attention"]),
        "map": np.asarray(map_ids).tolist(),
        "samples": np.asarray(sample_ids).tolist(),
    }


def greedy_decode(model, sources, mode, num_samples):
    from tf_varattn.decoding import Decoder

    return Decoder(model).decode(sources, mode, num_samples)


if __name__ == "__main__":
    PATH.write_text(json.dumps({preset: reference_outputs(preset, greedy_decode) for preset in PRESETS}) + "\n")
    print(f"wrote {PATH}")
