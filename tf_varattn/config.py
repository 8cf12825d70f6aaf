"""One configuration dataclass for model, training and evaluation, with a preset per paper model.

The paper's models differ in a few switches (Section 4 and Tables 2 and 4):

======================  ===========  ============  ==========  ======================
preset                  variational  attention     prior       notes
======================  ===========  ============  ==========  ======================
``ded``                 no           none          -           decoder starts from encoder
``ded_dattn``           no           deterministic -           decoder starts from encoder
``ved_dattn``           yes          deterministic -
``ved_dattn_2stage``    yes          deterministic -           attention from epoch 6
``ved_vattn_zero``      yes          variational   N(0, I)     "VED + VAttn-0"
``ved_vattn_mean``      yes          variational   N(h̄, I)     "VED + VAttn-h̄"
``vae``                 yes          none          -           pilot (Sec. 2.4), source = target
``vae_init``            yes          none          -           pilot, decoder starts from encoder
======================  ===========  ============  ==========  ======================

Defaults follow the authors' released code (``docs/reference-notes.md``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

ATTENTIONS = ("none", "deterministic", "variational")
ATTENTION_PRIORS = ("zero", "mean")
DECODER_INITS = ("zero", "encoder")
ATTENTION_KL_MODES = ("last_step", "sum")
LOSS_REDUCTIONS = ("sentence_mean", "sum")
KL_SCHEDULES = ("capped_tanh", "logistic", "linear", "constant")
# Config fields restricted to a fixed set of values (checked by Config.validate, enum flags in config_flags).
FIELD_CHOICES = {
    "task": ("qgen", "dialogue"),
    "attention": ATTENTIONS,
    "attention_prior": ATTENTION_PRIORS,
    "decoder_init": DECODER_INITS,
    "attention_kl": ATTENTION_KL_MODES,
    "loss_reduction": LOSS_REDUCTIONS,
    "kl_schedule": KL_SCHEDULES,
}

_POSITIVE, _NON_NEGATIVE, _AT_LEAST_ONE, _FRACTION = "(0, inf)", "[0, inf)", "[1, inf)", "[0, 1)"
# Numeric config fields and their valid intervals ("[" / "]" closed, "(" / ")" open); Config.validate checks them.
FIELD_RANGES = {
    "attention_start_epoch": _NON_NEGATIVE,
    "source_vocab_size": "[5, inf)",  # the four special tokens and at least one word
    "target_vocab_size": "[5, inf)",
    **dict.fromkeys(("embedding_dim", "encoder_units", "decoder_units", "latent_dim", "attentional_dim",
                     "max_decode_length", "epochs", "batch_size", "word2vec_epochs", "num_samples",
                     "eval_subset", "eval_epoch", "max_examples", "kl_warmup_steps"), _AT_LEAST_ONE),
    "dropout": _FRACTION,
    "word_dropout": _FRACTION,
    **dict.fromkeys(("gamma_a", "l2_weight", "kl_stop_step", "kl_constant", "min_learning_rate", "bucket_pool",
                     "seed", "z_temperature", "attention_temperature"), _NON_NEGATIVE),
    **dict.fromkeys(("kl_width", "learning_rate", "clip_value"), _POSITIVE),
    "learning_rate_decay": "(0, 1]",
    "kl_midpoint": "(-inf, inf)",
}


def _in_interval(value: float, interval: str) -> bool:
    low, high = (float(bound) for bound in interval[1:-1].split(","))
    above = value >= low if interval[0] == "[" else value > low
    below = value <= high if interval[-1] == "]" else value < high
    return above and below


@dataclasses.dataclass
class Config:
    """Every setting of one experiment; each field is overridable by a flag of the same name."""

    preset: str = "ved_vattn_mean"
    task: str = "qgen"
    # Model (Section 3; reference-notes "Architecture").
    variational: bool = True  # VED (latent z) or DED
    attention: str = "variational"  # none | deterministic | variational
    attention_prior: str = "mean"  # zero: N(0, I); mean: N(h̄, I)
    attention_start_epoch: int = 0  # 2-stage training: no attention before this epoch
    decoder_init: str = "zero"  # zero | encoder (final encoder state)
    autoencoder: bool = False  # VAE pilot: the target is the source sentence
    source_vocab_size: int = 40_000
    target_vocab_size: int = 40_000
    embedding_dim: int = 300
    pretrained_embeddings: bool = True  # word2vec on the task's sentences; off = random init
    train_embeddings: bool = False
    encoder_units: int = 100  # per direction
    decoder_units: int = 200
    latent_dim: int = 100
    attentional_dim: int = 100
    dropout: float = 0.2  # input dropout of encoder and decoder cells (keep 0.8)
    word_dropout: float = 0.25  # decoder input tokens replaced by PAD
    max_decode_length: int = 20
    # Objective, Eq. (8).
    gamma_a: float = 0.1
    attention_kl: str = "last_step"  # last_step (published numbers) | sum (Eq. (8) as written)
    loss_reduction: str = "sentence_mean"  # sentence_mean (reference) | sum (summed ELBO)
    l2_weight: float = 0.001
    kl_schedule: str = "capped_tanh"
    kl_midpoint: float = 4500.0  # capped_tanh and logistic
    kl_width: float = 1000.0  # capped_tanh and logistic
    kl_stop_step: int = 3000  # capped_tanh: lambda frozen after this step
    kl_warmup_steps: int = 10_000  # linear: steps to reach 1
    kl_constant: float = 1.0  # constant
    # Optimisation.
    epochs: int = 10
    batch_size: int = 100
    learning_rate: float = 0.005
    learning_rate_decay: float = 0.75  # per epoch
    min_learning_rate: float = 1e-5
    clip_value: float = 5.0  # element-wise gradient clipping
    shuffle: bool = True
    drop_remainder: bool = False
    bucket_pool: int = 0  # length bucketing: batches per sorting pool (0: off; 50 measured in results/benchmarks.md)
    seed: int = 0
    max_examples: Optional[int] = None  # first N pairs of every split, for quick runs
    word2vec_epochs: int = 50
    mixed_precision: bool = False  # bf16 output projection (the dominant matrix product)
    xla_projection: bool = True  # fused output softmax cross-entropy (XLA passes, hand-written gradient)
    # Inference.
    z_temperature: float = 1.0
    attention_temperature: float = 1.0
    num_samples: int = 10
    eval_subset: int = 1000  # validation inputs decoded after each epoch
    eval_epoch: int = 7  # the checkpoint the paper reports

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raises ``ValueError`` naming the field and its valid values."""
        for field, valid in FIELD_CHOICES.items():
            if getattr(self, field) not in valid:
                raise ValueError(f"{field}={getattr(self, field)!r} is not valid; choose one of: {', '.join(valid)}.")
        for field, interval in FIELD_RANGES.items():
            value = getattr(self, field)
            if value is not None and not _in_interval(value, interval):
                raise ValueError(f"{field} must be in {interval}, got {value}.")
        if not self.variational and self.attention == "variational":
            raise ValueError("Variational attention needs variational=True (a VED); see the ved_vattn_* presets.")
        if self.decoder_init == "encoder" and 2 * self.encoder_units != self.decoder_units:
            raise ValueError("decoder_init='encoder' needs decoder_units == 2 * encoder_units.")

    def replace(self, **overrides: Any) -> "Config":
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"Unknown config field(s) {unknown}; valid fields: {', '.join(f.name for f in dataclasses.fields(self))}.")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        return cls().replace(**values)


_DED = dict(variational=False, decoder_init="encoder", word_dropout=0.0)
PRESETS: dict[str, dict[str, Any]] = {
    "ded": dict(_DED, attention="none"),
    "ded_dattn": dict(_DED, attention="deterministic"),
    "ved_dattn": dict(attention="deterministic"),
    "ved_dattn_2stage": dict(attention="deterministic", attention_start_epoch=6),
    "ved_vattn_zero": dict(attention="variational", attention_prior="zero"),
    "ved_vattn_mean": dict(attention="variational", attention_prior="mean"),
    "vae": dict(attention="none", autoencoder=True),
    "vae_init": dict(attention="none", autoencoder=True, decoder_init="encoder"),
}
TASK_DEFAULTS = {"qgen": dict(batch_size=100), "dialogue": dict(batch_size=128)}


def get_config(preset: str, task: str = "qgen", **overrides: Any) -> Config:
    """The named paper model for a task, with field overrides applied last."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}.")
    if task not in TASK_DEFAULTS:
        raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(TASK_DEFAULTS)}.")
    return Config().replace(preset=preset, task=task, **PRESETS[preset], **TASK_DEFAULTS[task]).replace(**overrides)
