"""One Seq2Seq model for all the paper's variants (DED / VED x no / deterministic / variational attention)."""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import keras
import numpy as np
import tensorflow as tf

from tf_varattn.attention_registry import get_attention, posterior_options
from tf_varattn.config import Config
from tf_varattn.data.vocab import EOS_ID, GO_ID, PAD_ID
from tf_varattn.layers import (AttentionDecoderCell, BagOfWords, BidirectionalEncoder, CellState, GaussianLatent, Memory,
                               masked_mean)
from tf_varattn.layers.latent import gaussian_kl_per_dimension
from tf_varattn.layers import random_draws
from tf_varattn.models import objective
from tf_varattn.ops.fused_cross_entropy import projected_cross_entropy
from tf_varattn.ops.gradient_taps import deferred_gradient_taps
from tf_varattn.ops.recurrence import PackedSteps, recurrence

PROJECTION_BUCKET = 64


class LatentSample(NamedTuple):
    """z drawn from q(z|x) (Eq. 2-3) with its mean, log sigma and KL to N(0, I); ``[B, 0]`` and KL 0 without z."""

    z: tf.Tensor
    mean: tf.Tensor
    log_sigma: tf.Tensor
    kl: tf.Tensor


class DecoderState(NamedTuple):
    """What a decoding step reads, from :meth:`Seq2Seq.start`. Every field is batch-major, so a
    search reorders or repeats sentences with one ``tf.nest.map_structure``."""

    cell: CellState  # the recurrent state
    memory: Memory  # the encoded source and h̄
    latent: LatentSample
    attention_noise: tf.Tensor  # [B, steps, noise_dim]: the attention posterior's randomness, step by step
    time: tf.Tensor  # [B] int32: the index of the next step


class PreparedStep(NamedTuple):
    """Teacher forcing's parts of one step, computed for all steps at once (see :meth:`Seq2Seq.step`)."""

    input_gates: tf.Tensor  # the LSTM's input products of [y_{j-1} embedding; z]
    attention_noise: tf.Tensor
    feed_mask: tf.Tensor  # dropout of the fed-back attentional vector
    attention_taps: Optional[tuple]  # tf_varattn.ops.gradient_taps
    recurrent_kernel: tf.Tensor  # sliced once, outside the recurrence


def _projected_cross_entropy(projection, features, labels):
    logits = tf.cast(projection(features), tf.float32)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)


@keras.saving.register_keras_serializable(package="tf_varattn")
class Seq2Seq(keras.Model):
    """Encoder (Bi-LSTM) -> optional latent z (Eq. 2-3) -> attention decoder (Eq. 4-5, Sec. 3) -> softmax.

    ``batch`` dicts hold ``source_ids [B, S]``, ``source_length [B]``, ``target_ids [B, T]``
    (ending in EOS unless truncated) and ``target_length [B]``. The decoder reads
    ``[GO, y_1, ..., y_{T-1}]`` and predicts ``y_1..y_T``. Training samples z and the
    attention vectors (temperature 1). Decoding, teacher-forced or searched (:mod:`tf_varattn.decoding`),
    goes through two entry points only: :meth:`start` and :meth:`step`.
    """

    def __init__(self, config: Union[Config, dict], **kwargs):
        super().__init__(**kwargs)
        config = Config.from_dict(config) if isinstance(config, dict) else config
        self.settings = config
        seed = config.seed
        memory_dim = 2 * config.encoder_units
        uniform = keras.initializers.RandomUniform(-0.05, 0.05, seed=seed)
        self.source_embedding = keras.layers.Embedding(
            config.source_vocab_size, config.embedding_dim, embeddings_initializer=uniform,
            trainable=config.train_embeddings, name="source_embedding",
        )
        self.target_embedding = keras.layers.Embedding(
            config.target_vocab_size, config.embedding_dim, embeddings_initializer=uniform,
            trainable=config.train_embeddings, name="target_embedding",
        )
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.encoder = BidirectionalEncoder(config.encoder_units, config.embedding_dim, config.dropout, seed=seed + 1,
                                            independent_dropout=config.independent_encoder_dropout, name="encoder")
        self.latent = GaussianLatent(config.latent_dim, memory_dim, seed=seed + 2, name="latent") if config.variational else None
        decoder_input_dim = config.embedding_dim + (config.latent_dim if config.variational else 0)
        self.decoder_cell = AttentionDecoderCell(
            config.decoder_units, decoder_input_dim, memory_dim, config.attention, config.attentional_dim,
            posterior_options=posterior_options(config), name="decoder_cell",
        )
        self.decoder_dropout = keras.layers.Dropout(config.dropout, seed=seed + 3)
        self.output_projection = keras.layers.Dense(
            config.target_vocab_size, name="output_projection",
            dtype="mixed_bfloat16" if config.mixed_precision else None,
        )
        self.output_projection.build((None, self.decoder_cell.output_size))
        self.attention_gate = self.add_weight(
            name="attention_gate", shape=(), trainable=False,
            initializer=keras.initializers.Constant(1.0 if config.attention_start_epoch == 0 else 0.0),
        )
        # The decoder's random stream: word dropout, then the attention posterior's draws (see start).
        self.noise = keras.random.SeedGenerator(seed + 4)
        # The bag-of-words remedy's network from z (Zhao et al. 2017), built last and only when on, so
        # that the paper's models keep their variables and their initial values.
        self.bag_of_words = None
        if config.bow_loss_weight > 0:
            self.bag_of_words = BagOfWords(config.target_vocab_size, config.bow_hidden_units, config.latent_dim,
                                           name="bag_of_words")
        self.built = True

    # -- configuration -------------------------------------------------------------------------
    def get_config(self):
        return {"config": self.settings.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(Config.from_dict(config["config"]), name=config.get("name"))

    def set_embeddings(self, source_matrix: np.ndarray, target_matrix: np.ndarray) -> None:
        """Loads pre-trained (word2vec) embedding matrices into the encoder and decoder embeddings."""
        self.source_embedding.embeddings.assign(source_matrix)
        self.target_embedding.embeddings.assign(target_matrix)

    def set_epoch(self, epoch: int) -> None:
        """Epoch-dependent state: attention on from ``attention_start_epoch`` (2-stage training)."""
        self.attention_gate.assign(1.0 if epoch >= self.settings.attention_start_epoch else 0.0)

    # -- encoder and latent --------------------------------------------------------------------
    def encode(self, source_ids, source_length, training=False):
        """Returns the decoder's :class:`Memory` and the encoder's final ``(h_N, c_N)``."""
        mask = tf.sequence_mask(source_length, tf.shape(source_ids)[1])
        states, final_h, final_c = self.encoder(self.source_embedding(source_ids), source_mask=mask, training=training)
        memory = Memory(states, self.decoder_cell.keys(states), mask, masked_mean(states, mask))
        return memory, final_h, final_c

    def sample_latent(self, final_h, temperature=1.0, from_prior=False, seed=None):
        """``(z, mean, log_sigma, kl_z [B])``; DED models have no z (``[B, 0]``) and no KL.
        ``from_prior``: z drawn from N(0, I) (the bypass probe); ``seed``: a stateless seed ``[2]``
        to draw from instead of the layer's stream."""
        if self.latent is None:
            empty = final_h[:, :0]
            return empty, empty, empty, tf.zeros(tf.shape(final_h)[:1])
        noise = None
        if seed is not None:
            noise = random_draws.normal([tf.shape(final_h)[0], self.latent.latent_dim], seed, final_h.dtype)
        return self.latent(final_h, temperature=temperature, noise=noise, from_prior=from_prior)

    def initial_decoder_state(self, final_h, final_c) -> CellState:
        batch = tf.shape(final_h)[0]
        if self.settings.decoder_init == "encoder":
            return self.decoder_cell.initial_state(batch, final_h, final_c)
        return self.decoder_cell.initial_state(batch)

    def reseed(self, seed: int) -> None:
        """Restarts the random streams that sampling draws from (z's and the attention's) at a
        state fixed by ``seed``: decoding with a given seed is reproducible, and distinct seeds
        give independent sampling runs (the paper averages three)."""
        generators = [self.noise] + ([self.latent.seed_generator] if self.latent is not None else [])
        for index, generator in enumerate(generators):
            generator.state.assign(tf.constant([10_000 * (seed + 1) + index, 0], generator.state.dtype))

    # -- the two decoding entry points: start and step -----------------------------------------
    def start(self, source_ids, source_length, z_temperature=1.0, steps=None, training=False,
              z_from_prior=False, seed=None) -> DecoderState:
        """Everything decoding needs before its first step: the encoded source (the attention memory
        and h̄), z drawn with temperature tau_z (0: its mean; Eq. 2-3; ``z_from_prior``: from N(0, I)),
        the decoder's initial state, and the attention posterior's randomness for ``steps`` steps
        (default ``max_decode_length``), drawn from the decoder's random stream. ``seed`` (a
        stateless seed ``[2]``): z and the attention's draws come from it instead of the model's
        streams, so that the decoding is a function of its inputs (an exported model's requests)."""
        memory, final_h, final_c = self.encode(source_ids, source_length, training)
        z_seed = None if seed is None else random_draws.fold_in(seed, 0)
        latent = LatentSample(*self.sample_latent(final_h, z_temperature, z_from_prior, seed=z_seed))
        batch = tf.shape(source_ids)[0]
        steps = self.settings.max_decode_length if steps is None else steps
        noise_seed = self.noise if seed is None else random_draws.fold_in(seed, 1)
        noise = tf.transpose(self.decoder_cell.draw_noise(steps, batch, seed=noise_seed), [1, 0, 2])
        return DecoderState(self.initial_decoder_state(final_h, final_c), memory, latent, noise,
                            tf.zeros([batch], tf.int32))

    def step(self, tokens, state: DecoderState, attention_temperature=1.0, logit_rows=None,
             prepared: Optional["PreparedStep"] = None, attention_from_prior: bool = False):
        """Decoding step j (Figure 2): ``tokens [B]`` = y_{j-1} (GO first) -> ``(logits, step_outputs, state)``.

        The step reads [y_{j-1} embedding; z] and the fed-back attentional vector, attends, and
        draws a_j from the attention posterior with temperature tau_a (0: its mode). ``logits
        [K, V]`` are those of the rows ``logit_rows [K]`` (default: all), so that searches project
        only the sentences still running; ``step_outputs`` holds the step's ``outputs`` (the
        attentional vector), ``kl_attention [B]``, ``queries`` (h_j), ``attention_weights [B, S]``
        and ``attention_sigma`` (the standard deviation of what the posterior draws: sigma_a ``[B, D]``
        of the Gaussian, each Dirichlet weight's ``[B, S]``; ``[B, 0]`` for deterministic attention).
        ``attention_from_prior`` draws a_j from its prior instead (the bypass probe). Where the
        posterior gives its density, ``attention_log_ratio [B]`` is log q(a_j) - log p(a_j) at the draw.

        Teacher forcing passes ``prepared`` (:class:`PreparedStep`: this step's parts computed for
        all steps at once) instead of ``tokens``, and gets no logits (``None``): the loss projects
        the real target tokens of all steps at once.
        """
        cell = self.decoder_cell
        if prepared is None:
            inputs = tf.concat([self.target_embedding(tokens), state.latent.z], axis=-1)
            noise = tf.gather(state.attention_noise, state.time, axis=1, batch_dims=1)
            output, cell_state, attention = cell(
                inputs, state=state.cell, memory=state.memory, attention_gate=self.attention_gate,
                attention_temperature=attention_temperature, attention_noise=noise,
                attention_from_prior=attention_from_prior,
            )
        else:
            output, cell_state, attention = cell(
                None, state=state.cell, memory=state.memory, attention_gate=self.attention_gate,
                attention_temperature=attention_temperature, attention_noise=prepared.attention_noise,
                feed_dropout_mask=prepared.feed_mask, input_gates=prepared.input_gates,
                recurrent_kernel=prepared.recurrent_kernel, attention_taps=prepared.attention_taps,
            )
        state = state._replace(cell=cell_state, time=None if state.time is None else state.time + 1)
        logits = None
        if prepared is None:
            logits = self.output_projection(output if logit_rows is None else tf.gather(output, logit_rows))
        outputs = {"outputs": output, "kl_attention": attention.kl, "queries": cell_state.h,
                   "attention_weights": attention.weights, "attention_sigma": attention.sigma}
        if attention.log_ratio is not None:
            outputs["attention_log_ratio"] = attention.log_ratio
        return logits, outputs, state

    # -- teacher-forced decoder ----------------------------------------------------------------
    def decoder_input_ids(self, target_ids, training=False):
        """``[GO, y_1 .. y_{T-1}]`` with word dropout (tokens -> PAD) while training."""
        batch = tf.shape(target_ids)[0]
        inputs = tf.concat([tf.fill([batch, 1], GO_ID), target_ids[:, :-1]], axis=1)
        if training and self.settings.word_dropout > 0:
            keep = keras.random.uniform(tf.shape(inputs), seed=self.noise) >= self.settings.word_dropout
            keep = tf.logical_or(keep, tf.equal(tf.range(tf.shape(inputs)[1]), 0)[None, :])
            inputs = tf.where(keep, inputs, tf.cast(PAD_ID, inputs.dtype))
        return inputs

    def decode_teacher_forced(self, batch, training=False, log_ratios=False):
        """:meth:`start`, then :meth:`step` over the target; returns outputs ``[B, T, D]``, KL_att
        ``[B, T]`` and z's terms (with ``log_ratios``, also ``attention_log_ratio [B, T]``, log q(a_j) -
        log p(a_j) at each step's draw, for the importance-weighted likelihood).

        Every step computes only the sentences whose target is still running (the recurrence
        is packed with :class:`~tf_varattn.ops.recurrence.PackedSteps`), so padding costs
        nothing; outputs and KL terms are zero at the padded steps. The LSTM's input products of
        all steps are computed at once, and the attention memory's gradient after the loop
        (:mod:`tf_varattn.ops.gradient_taps`). Random draws are made for the padded batch in its
        own row order, so they do not depend on the packing.
        """
        # Word dropout first: the decoder's random stream draws it, then start() the attention noise.
        input_ids = self.decoder_input_ids(batch["target_ids"], training)
        steps, size = tf.shape(input_ids)[1], tf.shape(input_ids)[0]
        state = self.start(batch["source_ids"], batch["source_length"], 1.0, steps, training)
        memory, latent = state.memory, state.latent
        embedded = self.target_embedding(input_ids)
        z_steps = tf.tile(latent.z[:, None, :], [1, steps, 1])
        inputs = self.decoder_dropout(tf.concat([embedded, z_steps], axis=-1), training=training)
        packed = PackedSteps(batch["target_length"], steps)
        # The LSTM's input products for all real steps at once; the embedding part in its own
        # product, so no gradient is computed for it when the embeddings are frozen.
        embedding_dim = self.settings.embedding_dim
        embedded_inputs = packed.pack(inputs[:, :, :embedding_dim], time_major=False)
        if not self.settings.train_embeddings:
            embedded_inputs = tf.stop_gradient(embedded_inputs)
        input_gates = self.decoder_cell.lstm.input_gates(embedded_inputs)
        if self.latent is not None:
            latent_inputs = packed.pack(inputs[:, :, embedding_dim:], time_major=False)
            input_gates += self.decoder_cell.lstm.input_gates(latent_inputs, first_row=embedding_dim)
        feed_mask = self.decoder_dropout(tf.ones([steps, size, self.decoder_cell.feed_dim]), training=training)
        elements = {"gates": input_gates, "noise": packed.pack(state.attention_noise, time_major=False),
                    "feed_mask": packed.pack(feed_mask)}
        # The taps assume the decoder reads the bilinear softmax context: posteriors that draw the
        # context vector (a_j) do; those that draw the weights themselves (Dirichlet) do not.
        kind = get_attention(self.settings.attention)
        tapped = kind.attends and kind.draws == "context"
        if tapped:  # the memory's gradient in one product after the loop, not one per step
            bilinear = self.decoder_cell.bilinear
            taps, record_queries = deferred_gradient_taps(
                memory.states, memory.keys, steps, lambda queries, keys: bilinear.attention_weights(queries, keys, memory.mask)
            )
            elements["taps"] = tf.nest.map_structure(packed.pack, taps)
        sorted_memory = Memory(*[packed.sort(part) for part in memory])
        recurrent_kernel = self.decoder_cell.recurrent_kernel
        dtype = state.cell.h.dtype
        output_specs = {
            "outputs": tf.TensorSpec([None, self.decoder_cell.output_size], dtype),
            "kl_attention": tf.TensorSpec([None], dtype),
        }
        if tapped:
            output_specs["queries"] = tf.TensorSpec([None, self.decoder_cell.units], dtype)
        if log_ratios:
            output_specs["attention_log_ratio"] = tf.TensorSpec([None], dtype)

        def body(cell_state, elements):
            rows = tf.shape(cell_state.h)[0]  # the sentences still running, in packed order
            running = DecoderState(cell_state, Memory(*[part[:rows] for part in sorted_memory]), None, None, None)
            prepared = PreparedStep(elements["gates"], elements["noise"], elements["feed_mask"],
                                    elements.get("taps"), recurrent_kernel)
            _, outputs, running = self.step(None, running, prepared=prepared)
            if log_ratios and "attention_log_ratio" not in outputs:
                raise ValueError(f"The attention posterior {type(self.decoder_cell.posterior).__name__} gives no "
                                 "log density ratio, which the importance-weighted likelihood needs: define its "
                                 "log_density_ratio (tf_varattn/layers/attention_posterior.py).")
            return running.cell, {name: outputs[name] for name in output_specs}

        stacked, _ = recurrence(body, elements, state.cell, output_specs, packed=packed)
        if tapped:
            record_queries(packed.unpack(stacked["queries"], time_major=True))
        decoded = {"attention_log_ratio": packed.unpack(stacked["attention_log_ratio"])} if log_ratios else {}
        return {
            **decoded,
            "outputs": packed.unpack(stacked["outputs"]),
            "kl_attention": packed.unpack(stacked["kl_attention"]),
            "kl_z": latent.kl,
            "z": latent.z,
            "z_mean": latent.mean,
            "z_log_sigma": latent.log_sigma,
        }

    def call(self, batch, training=False):
        """Logits ``[B, T, V]`` of the teacher-forced decoder."""
        return self.output_projection(self.decode_teacher_forced(batch, training)["outputs"])

    # -- objective -----------------------------------------------------------------------------
    def token_cross_entropy(self, features, labels):
        """Cross-entropy of the output softmax for ``features [N, D]`` of real target tokens.

        With ``xla_projection`` this is :func:`~tf_varattn.ops.fused_cross_entropy.projected_cross_entropy` (fused
        softmax with XLA, hand-written gradient); rows are padded to a multiple of
        ``PROJECTION_BUCKET`` so that only a few shapes are ever compiled, and the padded
        rows are dropped (their gradient is zero). Without it, plain TensorFlow ops.
        """
        if not self.settings.xla_projection:
            return _projected_cross_entropy(self.output_projection, features, labels)
        count = tf.shape(features)[0]
        padded = (count + PROJECTION_BUCKET - 1) // PROJECTION_BUCKET * PROJECTION_BUCKET
        projection = self.output_projection
        cross_entropy = projected_cross_entropy(
            tf.pad(features, [[0, padded - count], [0, 0]]),
            tf.convert_to_tensor(projection.kernel),
            tf.convert_to_tensor(projection.bias),
            tf.pad(labels, [[0, padded - count]]),
            compute_dtype=projection.compute_dtype,
        )
        return cross_entropy[:count]

    def sentence_cross_entropy(self, outputs, target_ids, target_length):
        """-log p(y | x, z, a) ``[B]``: the cross-entropy summed over each sentence's real target
        tokens, from the teacher-forced ``outputs [B, T, D]``."""
        positions = tf.where(tf.sequence_mask(target_length, tf.shape(target_ids)[1]))
        cross_entropy = self.token_cross_entropy(
            tf.gather_nd(outputs, positions), tf.gather_nd(target_ids, positions)
        )
        return tf.math.unsorted_segment_sum(cross_entropy, positions[:, 0], tf.shape(target_ids)[0])

    def compute_losses(self, batch, kl_weight, training=False):
        """Eq. (8) summed over the batch (see :mod:`tf_varattn.models.objective`), plus L2, and
        the remedies for a collapsed z where they are on (free bits on KL_z, the bag-of-words loss).

        Logits are computed only for real target tokens, so padding costs nothing and
        changes nothing. Returns the scalar ``loss`` and batch means of its terms (``kl_z`` is the
        KL itself, without the free-bits floor).
        """
        settings = self.settings
        decoded = self.decode_teacher_forced(batch, training)
        target_ids, target_length = batch["target_ids"], batch["target_length"]
        cross_entropy_sum = self.sentence_cross_entropy(decoded["outputs"], target_ids, target_length)
        kl_attention = objective.attention_kl_per_sentence(decoded["kl_attention"], target_length, settings.attention_kl)
        kl_z_term = decoded["kl_z"]
        if settings.free_bits > 0:
            kl_z_term = objective.free_bits_kl(
                gaussian_kl_per_dimension(decoded["z_mean"], decoded["z_log_sigma"]), settings.free_bits)
        total, reconstruction = objective.sentence_losses(
            cross_entropy_sum, target_length, kl_z_term, kl_attention, kl_weight, settings.gamma_a,
            settings.loss_reduction,
        )
        extra = {}
        if self.bag_of_words is not None:
            bag_of_words = objective.bag_of_words_loss(self.bag_of_words(decoded["z"]), target_ids, target_length,
                                                       settings.loss_reduction, ignored_ids=(EOS_ID,))
            total += settings.bow_loss_weight * bag_of_words
            extra["bag_of_words"] = tf.reduce_mean(bag_of_words)
        l2 = objective.l2_penalty(self.trainable_variables, settings.l2_weight, settings.l2_layer_norm_shifts)
        return {
            **extra,
            "loss": tf.reduce_sum(total) + l2,
            "reconstruction": tf.reduce_mean(reconstruction),
            "kl_z": tf.reduce_mean(decoded["kl_z"]),
            "kl_attention": tf.reduce_mean(kl_attention),
            "l2": l2,
            "z_mean": decoded["z_mean"],
            "z_log_sigma": decoded["z_log_sigma"],
        }


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
    """Adam with the config's rate (clipping to [-clip_value, clip_value] is done in
    :func:`tf_varattn.training.step.train_step`)."""
    return keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=config.adam_epsilon)


def build_model(config: Config, embeddings: Optional[tuple[np.ndarray, np.ndarray]] = None) -> Seq2Seq:
    """A compiled :class:`Seq2Seq` (optimizer attached), optionally with pre-trained embeddings."""
    model = Seq2Seq(config)
    if embeddings is not None:
        model.set_embeddings(*embeddings)
    model.compile(optimizer=make_optimizer(config))
    model.optimizer.build(model.trainable_variables)  # slots now, not inside the first compiled step
    return model
