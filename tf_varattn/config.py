"""One configuration dataclass for model, training and evaluation, with a preset per paper model.

The paper's models differ in a few switches (Section 4 and Tables 2 and 4):

=======================  ===========  ============  ==========  ======================
preset                   variational  attention     prior       notes
=======================  ===========  ============  ==========  ======================
``ded``                  no           none          -           decoder starts from encoder
``ded_dattn``            no           deterministic -           decoder starts from encoder
``ved_dattn``            yes          deterministic -
``ved_dattn_2stage``     yes          deterministic -           attention from epoch 6
``ved_vattn_zero``       yes          variational   N(0, I)     "VED + VAttn-0"
``ved_vattn_mean``       yes          variational   N(h̄, I)     "VED + VAttn-h̄"
``ved_vattn_dirichlet``  yes          dirichlet     Dir(1)      beyond the paper (Sec. 3.5)
``vae``                  yes          none          -           pilot (Sec. 2.4), source = target
``vae_init``             yes          none          -           pilot, decoder starts from encoder
=======================  ===========  ============  ==========  ======================

Defaults follow the authors' released code (``docs/reference-code.md``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from tf_varattn.attention_registry import RegisteredNames, get_attention, option_fields
from tf_varattn.tasks import TASKS, get_task

ATTENTION_PRIORS = ("zero", "mean")
DIRICHLET_TRANSFORMS = ("softplus", "exp")
DECODER_INITS = ("zero", "encoder")
ATTENTION_KL_MODES = ("last_step", "sum")
LOSS_REDUCTIONS = ("sentence_mean", "sum")
KL_SCHEDULES = ("capped_tanh", "logistic", "linear", "constant", "cyclical")
# Config fields restricted to a fixed set of values (checked by Config.validate, enum flags in config_flags).
FIELD_CHOICES = {
    "task": tuple(TASKS),
    "attention": RegisteredNames(),  # tf_varattn/attention_registry.py
    "attention_prior": ATTENTION_PRIORS,
    "decoder_init": DECODER_INITS,
    "attention_kl": ATTENTION_KL_MODES,
    "loss_reduction": LOSS_REDUCTIONS,
    "kl_schedule": KL_SCHEDULES,
    "dirichlet_transform": DIRICHLET_TRANSFORMS,
    "protocol": ("ours", "reference"),
    "word2vec_corpus": ("tokenized", "reference"),
}

# The released code's data protocol (docs/reference-code.md, last section), one field per
# difference from ours; ``protocol="reference"`` turns all of them on (get_config), ``"ours"``
# leaves the defaults. Evaluation's side (references, the last partial test batch) is
# experiments/evaluate.py's --protocol.
REFERENCE_PROTOCOL = dict(
    truncate_before_filter=True, source_eos=True, eos_then_truncate=True, shuffle=False, drop_remainder=True,
    l2_layer_norm_shifts=True, adam_epsilon=1e-8, independent_encoder_dropout=True, word2vec_corpus="reference",
)

def _field(default: Any, help_text: str):
    """A config field with its one-line meaning (shown by the scripts' ``--help``)."""
    return dataclasses.field(default=default, metadata={"help": help_text})


_POSITIVE, _NON_NEGATIVE, _AT_LEAST_ONE, _FRACTION = "(0, inf)", "[0, inf)", "[1, inf)", "[0, 1)"
# Numeric config fields and their valid intervals ("[" / "]" closed, "(" / ")" open); Config.validate checks them.
FIELD_RANGES = {
    "attention_start_epoch": _NON_NEGATIVE,
    "source_vocab_size": "[5, inf)",  # the four special tokens and at least one word
    "target_vocab_size": "[5, inf)",
    **dict.fromkeys(("embedding_dim", "encoder_units", "decoder_units", "latent_dim", "attentional_dim",
                     "max_decode_length", "epochs", "batch_size", "word2vec_epochs", "num_samples",
                     "eval_subset", "eval_epoch", "max_examples", "kl_warmup_steps", "max_source_length",
                     "max_target_length", "kl_cycles", "bow_hidden_units"), _AT_LEAST_ONE),
    "max_vocab_size": "[5, inf)",
    "dropout": _FRACTION,
    "word_dropout": _FRACTION,
    **dict.fromkeys(("gamma_a", "l2_weight", "kl_stop_step", "kl_constant", "min_learning_rate", "bucket_pool",
                     "seed", "z_temperature", "attention_temperature", "free_bits", "bow_loss_weight"),
                  _NON_NEGATIVE),
    "kl_ramp": "(0, 1]",
    "adam_epsilon": _POSITIVE,
    **dict.fromkeys(("kl_width", "learning_rate", "clip_value", "dirichlet_floor", "dirichlet_prior"), _POSITIVE),
    "learning_rate_decay": "(0, 1]",
    "kl_midpoint": "(-inf, inf)",
}


# Fields set from the data (the vocabulary sizes), not settings of an experiment.
DATA_SIZED_FIELDS = ("source_vocab_size", "target_vocab_size")


def inert_fields(settings: dict) -> set[str]:
    """The fields that have no effect on a model with these ``settings`` (a config as a dict): the
    fields of the other attentions (the Dirichlet fields unless ``attention='dirichlet'``, the
    attention prior unless ``attention='variational'``; attention_registry)."""
    attention = settings.get("attention")
    own = set(get_attention(attention).config_options) if attention in FIELD_CHOICES["attention"] else set()
    return option_fields() - own


def config_differences(stored: dict, expected: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """The fields (sorted) whose value in ``stored`` differs from ``expected``, except the
    data-sized fields, ``ignore``, and the fields inert under both configs (a changed Dirichlet
    default does not make a DED a different run). A field missing from ``stored`` (a config
    written before the field existed) counts as its default: fields are only added with a
    default that keeps the earlier behaviour."""
    defaults = Config().to_dict()
    stored = {**defaults, **stored}
    inert = inert_fields(stored) & inert_fields(expected)
    return sorted(field for field in expected
                  if field not in DATA_SIZED_FIELDS and field not in ignore and field not in inert
                  and stored.get(field) != expected[field])


def _in_interval(value: float, interval: str) -> bool:
    low, high = (float(bound) for bound in interval[1:-1].split(","))
    above = value >= low if interval[0] == "[" else value > low
    below = value <= high if interval[-1] == "]" else value < high
    return above and below


@dataclasses.dataclass
class Config:
    """Every setting of one experiment; each field is overridable by a flag of the same name."""

    preset: str = _field("ved_vattn_mean", 'Paper model this config starts from (see PRESETS).')
    task: str = _field("qgen", 'qgen (SQuAD question generation, Table 2), dialogue (Cornell, Table 4), or custom (your own pairs).')
    # Data (tf_varattn/tasks.py): a task's own files, or yours; its text handling, or yours (None: the task's).
    train_file: Optional[str] = _field(None, 'Training pairs: a .csv/.tsv with a header row, or SOURCE,TARGET aligned text files (default: the task\'s own).')
    val_file: Optional[str] = _field(None, 'Validation pairs, as --train_file.')
    test_file: Optional[str] = _field(None, 'Test pairs, as --train_file (optional for your own data).')
    source_column: Optional[str] = _field(None, 'Table column holding the source sentence (default: the task\'s; custom: source).')
    target_column: Optional[str] = _field(None, 'Table column holding the target sentence (default: the task\'s; custom: target).')
    max_source_length: Optional[int] = _field(None, 'Source tokens kept (default: the task\'s; qgen 30, dialogue 20, custom 30).')
    max_target_length: Optional[int] = _field(None, 'Target tokens kept (default: the task\'s, 20); also the default max_decode_length.')
    max_vocab_size: Optional[int] = _field(None, 'Ids per vocabulary, the 4 special tokens included (default: the task\'s; qgen 40000, else 30000).')
    filter_characters: Optional[str] = _field(None, 'Characters replaced by spaces after tokenizing (default: the task\'s).')
    lowercase: Optional[bool] = _field(None, 'Lower-case the text (default: the task\'s, yes).')
    # Model (Section 3; docs/reference-code.md "Architecture").
    variational: bool = _field(True, 'A VED (with the latent z) or a DED (without).')
    attention: str = _field("variational", 'Attention: none, deterministic, variational (Sec. 3), dirichlet (random weights, beyond the paper), or another registered one (attention_registry.py).')
    attention_options: dict = dataclasses.field(default_factory=dict, metadata={"help": 'More constructor arguments of the attention posterior, name=value pairs (for a registered posterior of your own).'})
    attention_prior: str = _field("mean", 'Prior of the attention vector: zero, N(0, I); mean, N(h̄, I).')
    dirichlet_transform: str = _field("softplus", 'dirichlet: the positive map of the attention scores to concentrations (softplus, exp).')
    dirichlet_floor: float = _field(0.3, 'dirichlet: added to every concentration (keeps the sampler\'s gradients finite).')
    dirichlet_prior: float = _field(1.0, 'dirichlet: concentration of the symmetric prior over the real source positions.')
    attention_start_epoch: int = _field(0, '2-stage training: no attention before this epoch.')
    decoder_init: str = _field("zero", 'Decoder start state: zero, or encoder (its final state).')
    autoencoder: bool = _field(False, 'VAE pilot: the target is the source sentence.')
    source_vocab_size: int = _field(40_000, 'Source vocabulary size (set from the data).')
    target_vocab_size: int = _field(40_000, 'Target vocabulary size (set from the data).')
    embedding_dim: int = _field(300, 'Word embedding size (word2vec dimension).')
    pretrained_embeddings: bool = _field(True, "Initialise the embeddings with word2vec on the task's sentences (off: random).")
    train_embeddings: bool = _field(False, 'Train the embeddings (the reference keeps them frozen).')
    encoder_units: int = _field(100, 'Encoder LSTM units per direction.')
    decoder_units: int = _field(200, 'Decoder LSTM units.')
    latent_dim: int = _field(100, 'Size of the sentence latent z.')
    attentional_dim: int = _field(100, 'Size of the attentional vector Dense([output; context]).')
    dropout: float = _field(0.2, 'Input dropout of encoder and decoder cells (keep 0.8).')
    word_dropout: float = _field(0.25, 'Share of decoder input tokens replaced by PAD (VED models).')
    max_decode_length: int = _field(20, 'Longest generated output, in tokens.')
    # Objective, Eq. (8).
    gamma_a: float = _field(0.1, 'Weight of the attention KL, Eq. (8).')
    attention_kl: str = _field("last_step", 'Attention KL: last_step (what made the published numbers) or sum (Eq. (8) as written).')
    loss_reduction: str = _field("sentence_mean", 'Loss: sentence_mean (the reference) or sum (the summed negative ELBO).')
    l2_weight: float = _field(0.001, 'L2 penalty on the weights (biases and layer-norm shifts excluded).')
    kl_schedule: str = _field("capped_tanh", 'How lambda_KL grows: capped_tanh (reference), logistic, linear, constant.')
    kl_midpoint: float = _field(4500.0, 'Step where lambda_KL is halfway (capped_tanh, logistic).')
    kl_width: float = _field(1000.0, 'Steps over which lambda_KL rises (capped_tanh, logistic).')
    kl_stop_step: int = _field(3000, 'capped_tanh: lambda_KL frozen after this step.')
    kl_warmup_steps: int = _field(10_000, 'linear: steps for lambda_KL to reach 1.')
    kl_constant: float = _field(1.0, 'constant: the value of lambda_KL.')
    kl_cycles: int = _field(4, 'cyclical (Fu et al. 2019): annealing cycles over the whole training.')
    kl_ramp: float = _field(0.5, 'cyclical: share of each cycle over which lambda_KL rises from 0 to 1 (then held at 1).')
    # Remedies for a collapsed z (off by default: the paper's runs do not use them).
    free_bits: float = _field(0.0, 'Free bits (Kingma et al. 2016): KL_z of each dimension, averaged over the batch, floored at this many nats (0: off).')
    bow_loss_weight: float = _field(0.0, "Bag-of-words loss (Zhao et al. 2017): weight of -log p(target's words | z), order ignored (0: off).")
    bow_hidden_units: int = _field(400, 'Hidden units of the bag-of-words network from z.')
    # Optimisation.
    epochs: int = _field(10, 'Training epochs.')
    batch_size: int = _field(100, 'Sentence pairs per step.')
    learning_rate: float = _field(0.005, "Adam's initial learning rate.")
    learning_rate_decay: float = _field(0.75, 'Learning-rate factor applied after every epoch.')
    min_learning_rate: float = _field(1e-5, 'Floor of the decayed learning rate.')
    clip_value: float = _field(5.0, 'Element-wise gradient clipping.')
    shuffle: bool = _field(True, 'Shuffle the training pairs every epoch (seeded).')
    drop_remainder: bool = _field(False, 'Drop the last partial batch of an epoch (the reference did).')
    bucket_pool: int = _field(0, 'Length bucketing: batches per sorting pool (0: off; 50 measured in results/benchmarks.md).')
    seed: int = _field(0, 'Seed of initialisation, batches, dropout and sampling.')
    adam_epsilon: float = _field(1e-7, "Adam's epsilon (Keras' 1e-7; the released code TF1's 1e-8).")
    # The released code's protocol, one switch per difference (docs/reference-code.md, last section).
    protocol: str = _field("ours", 'ours, or reference: the released code\'s data protocol, every switch of it on (truncate_before_filter, source_eos, eos_then_truncate, l2_layer_norm_shifts, adam_epsilon=1e-8, independent_encoder_dropout, word2vec_corpus=reference, noshuffle, drop_remainder); a switch given too wins.')
    truncate_before_filter: bool = _field(False, 'Keep the first N Treebank tokens, then filter (the vocabulary counts only those).')
    source_eos: bool = _field(False, 'Append EOS to every source (an attended position).')
    eos_then_truncate: bool = _field(False, 'Append EOS, then cut to N ids (a sequence of N tokens has no EOS).')
    l2_layer_norm_shifts: bool = _field(False, 'L2 on the layer-norm shifts too (every variable but biases).')
    independent_encoder_dropout: bool = _field(False, "The encoder's two directions draw their own dropout masks.")
    word2vec_corpus: str = _field("tokenized", "word2vec on the task's tokenized sentences, or reference: all six CSVs' rows, columns joined without a space, word_tokenize, case kept.")
    max_examples: Optional[int] = _field(None, 'First N pairs of every split, for quick runs.')
    word2vec_epochs: int = _field(50, 'Epochs of the word2vec training that initialises the embeddings.')
    mixed_precision: bool = _field(False, 'bf16 output projection (the dominant matrix product).')
    xla_projection: bool = _field(True, 'Fused output softmax cross-entropy (XLA passes, hand-written gradient).')
    # Inference.
    z_temperature: float = _field(1.0, "Scale of z's noise when sampling (tau_z).")
    attention_temperature: float = _field(1.0, "Scale of the attention vector's noise when sampling (tau_a).")
    num_samples: int = _field(10, 'Samples per validation input after each epoch.')
    eval_subset: int = _field(1000, 'Validation inputs decoded after each epoch.')
    eval_epoch: int = _field(7, 'Epoch whose checkpoint is evaluated (the paper reports 7).')

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
        own_files = self.train_file or self.val_file or self.test_file
        if (get_task(self.task).files is None or own_files) and not (self.train_file and self.val_file):
            raise ValueError(f"task={self.task!r} with your own pairs needs --train_file and --val_file (and "
                             "optionally --test_file), each a .csv/.tsv with a header row or SOURCE,TARGET text files.")
        if get_task(self.task).files is None and self.word2vec_corpus == "reference":
            raise ValueError("word2vec_corpus='reference' reads the paper's six CSV files; your own pairs train "
                             "word2vec on their tokenized sentences (word2vec_corpus='tokenized').")
        if not isinstance(self.attention_options, dict):
            raise ValueError(f"attention_options must be a dict of constructor arguments, got {self.attention_options!r}.")
        if not self.variational and get_attention(self.attention).random:
            raise ValueError(f"attention={self.attention!r} needs variational=True (a VED); see the ved_vattn_* presets.")
        remedies = [name for name in ("free_bits", "bow_loss_weight") if getattr(self, name) > 0]
        if remedies and not self.variational:
            raise ValueError(f"{', '.join(remedies)} act on the latent z, which a DED has not; use a ved_* preset.")
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
    "ved_vattn_dirichlet": dict(attention="dirichlet"),  # beyond the paper (Sec. 3.5)
    "vae": dict(attention="none", autoencoder=True),
    "vae_init": dict(attention="none", autoencoder=True, decoder_init="encoder"),
}


def get_config(preset: str, task: str = "qgen", **overrides: Any) -> Config:
    """The named paper model for a task, with field overrides applied last."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}.")
    task_defaults = dict(batch_size=get_task(task).batch_size)  # unknown tasks: one line with the valid ones
    if overrides.get("max_target_length") is not None:
        task_defaults["max_decode_length"] = overrides["max_target_length"]
    protocol = overrides.get("protocol", "ours")
    if protocol not in FIELD_CHOICES["protocol"]:
        raise ValueError(f"protocol={protocol!r} is not valid; choose one of: {', '.join(FIELD_CHOICES['protocol'])}.")
    switches = REFERENCE_PROTOCOL if protocol == "reference" else {}
    # One replace, so that the config is validated once, with everything in (task=custom needs its files).
    return Config().replace(**{"preset": preset, "task": task, **PRESETS[preset], **task_defaults, **switches,
                               **overrides})
