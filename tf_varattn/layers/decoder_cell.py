"""The decoder step: layer-normalised LSTM, attention with input feeding, z at every step."""

from __future__ import annotations

import inspect
from typing import NamedTuple, Optional

import keras
import tensorflow as tf

from tf_varattn.attention_registry import get_attention
from tf_varattn.layers.attention import BilinearAttention
from tf_varattn.layers.attention_posterior import AttentionPosterior, AttentionSample
from tf_varattn.layers.recurrent import LayerNormLSTMCell
from tf_varattn.ops.gradient_taps import TappedAttention


def make_attention_posterior(attention: str, memory_dim: int, options: Optional[dict] = None) -> AttentionPosterior:
    """The registered attention posterior named ``attention`` (not ``"none"``), built with its
    constructor ``options`` (:func:`tf_varattn.attention_registry.posterior_options` of a config)."""
    kind = get_attention(attention)
    if not kind.attends:
        raise ValueError(f"attention={attention!r} has no attention posterior.")
    layer, options = kind.layer_class(), dict(options or {})
    accepted = [name for name, parameter in inspect.signature(layer.__init__).parameters.items()
                if name not in ("self", "units") and parameter.kind is not parameter.VAR_KEYWORD]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"attention={attention!r}: {layer.__name__} does not take the options {unknown}; "
                         f"it takes {accepted}.")
    return layer(memory_dim, **options, name="posterior")


class CellState(NamedTuple):
    """The decoder cell's recurrent state."""

    h: tf.Tensor
    c: tf.Tensor
    attentional: tf.Tensor  # previous step's attentional vector (input feeding); [B, 0] without attention


class Memory(NamedTuple):
    """What every decoding step reads from the encoder."""

    states: tf.Tensor  # [B, S, 2u] source states h_src
    keys: tf.Tensor  # [B, S, decoder units] W h_src
    mask: tf.Tensor  # [B, S] real source positions
    mean: tf.Tensor  # [B, 2u] h̄, the prior mean of "VAttn-h̄"


@keras.saving.register_keras_serializable(package="tf_varattn")
class AttentionDecoderCell(keras.layers.Layer):
    """One decoding step j (Figure 2b-d; docs/reference-code.md "Architecture").

    Input of the LSTM: [y_{j-1} embedding; z; attentional vector of step j-1] (input
    feeding; the last part only with attention). With attention the step's output is the
    attentional vector Dense(attentional_dim, no bias)([h_j; a_j]) where a_j is the
    context the attention posterior returns for a_det_j (Eq. 5): a_det_j itself or a sample of
    q(a_j|x) (Sec. 3.3, :mod:`tf_varattn.layers.attention_posterior`); without attention it is h_j.
    ``attention_gate`` (0 or 1) switches the context off for 2-stage training.
    """

    def __init__(
        self,
        units: int,
        input_dim: int,
        memory_dim: int,
        attention: str = "deterministic",
        attentional_dim: int = 100,
        posterior_options: Optional[dict] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.attends = get_attention(attention).attends  # an unknown name: one line with the valid ones
        self.units, self.input_dim, self.memory_dim = units, input_dim, memory_dim
        self.attention, self.attentional_dim = attention, attentional_dim
        self.posterior_options = dict(posterior_options or {})
        self.feed_dim = attentional_dim if self.attends else 0
        self.lstm = LayerNormLSTMCell(units, input_dim + self.feed_dim, name="lstm")
        self.output_size = attentional_dim if self.attends else units
        if self.attends:
            self.bilinear = BilinearAttention(units, memory_dim, name="bilinear")
            self.attentional_layer = keras.layers.Dense(attentional_dim, use_bias=False, name="attentional")
            self.attentional_layer.build((None, units + memory_dim))
            self.posterior = make_attention_posterior(attention, memory_dim, self.posterior_options)
        self.built = True  # every weight is created above

    def initial_state(self, batch_size, h=None, c=None) -> CellState:
        zeros = tf.zeros([batch_size, self.units])
        return CellState(
            zeros if h is None else h, zeros if c is None else c, tf.zeros([batch_size, self.feed_dim])
        )

    @property
    def recurrent_kernel(self):
        """The LSTM kernel rows that read ``[fed attentional vector; h]``."""
        return self.lstm.kernel[self.input_dim:]

    def draw_noise(self, steps, batch, seed=None):
        """The attention posterior's randomness for ``steps`` steps, ``[steps, batch, noise_dim]``
        (nothing is drawn without attention or with the deterministic one)."""
        return self.posterior.draw_noise(steps, batch, seed) if self.attends else tf.zeros([steps, batch, 0])

    def keys(self, memory_states):
        return self.bilinear.keys(memory_states) if self.attends else memory_states[:, :, :0]

    def call(
        self,
        inputs,
        state: CellState,
        memory: Memory,
        attention_gate=1.0,
        attention_temperature=1.0,
        attention_noise: Optional[tf.Tensor] = None,
        feed_dropout_mask: Optional[tf.Tensor] = None,
        input_gates: Optional[tf.Tensor] = None,
        recurrent_kernel: Optional[tf.Tensor] = None,
        attention_taps: Optional[tuple] = None,
        attention_from_prior: bool = False,
    ):
        """``inputs [B, input_dim]`` -> ``(output, new state, attention)``, ``attention`` the step's
        :class:`AttentionSample` (its KL and log density ratio times the attention gate; empty tensors
        without attention).

        Dropout is the caller's (``feed_dropout_mask`` for the fed-back part). Teacher forcing
        passes ``input_gates`` (:meth:`LayerNormLSTMCell.input_gates` of every step's inputs,
        computed at once) instead of ``inputs``, and :attr:`recurrent_kernel` sliced once
        outside the recurrence (slicing inside costs a full-kernel gradient at every step), and
        ``attention_taps``, this step's slice of :func:`tf_varattn.ops.gradient_taps.deferred_gradient_taps`.
        ``attention_from_prior`` draws the attention from its prior (the bypass probe).
        """
        fed = state.attentional if feed_dropout_mask is None else state.attentional * feed_dropout_mask
        if input_gates is None:
            input_gates = self.lstm.input_gates(inputs)
        if recurrent_kernel is None:
            recurrent_kernel = self.recurrent_kernel
        recurrent = tf.matmul(tf.concat([fed, state.h], axis=-1), recurrent_kernel)
        h, c = self.lstm.update(input_gates + recurrent, state.c)
        if not self.attends:
            empty = h[:, :0]
            zero = tf.zeros(tf.shape(h)[:1], h.dtype)
            return h, CellState(h, c, state.attentional), AttentionSample(empty, empty, zero, empty, zero)
        bilinear = self.bilinear if attention_taps is None else TappedAttention(self.bilinear, attention_taps)
        attention = self.posterior.attend(bilinear, h, memory, attention_temperature, attention_noise,
                                          attention_from_prior)
        gate = tf.cast(attention_gate, h.dtype)
        attentional = self.attentional_layer(tf.concat([h, gate * attention.context], axis=-1))
        # A gated-off attention (2-stage training) is not used: no KL, and no factor of the importance weight.
        log_ratio = None if attention.log_ratio is None else gate * attention.log_ratio
        return attentional, CellState(h, c, attentional), attention._replace(kl=gate * attention.kl, log_ratio=log_ratio)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "input_dim": self.input_dim,
            "memory_dim": self.memory_dim,
            "attention": self.attention,
            "attentional_dim": self.attentional_dim,
            "posterior_options": self.posterior_options,
        }
