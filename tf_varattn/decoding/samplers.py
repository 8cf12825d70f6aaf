"""Token-by-token searches (as keras-hub's samplers): each step's logits -> the next token.
A sampler overrides one method, :meth:`Sampler.get_next_token`."""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_varattn.data.vocab import EOS_ID, GO_ID, PAD_ID
from tf_varattn.decoding.registry import register_search
from tf_varattn.decoding.search import Search, SearchOption


class Sampler(Search):
    """Decodes one token per step for every sentence still running (only those reach the output
    projection) until all have produced EOS or ``max_length`` tokens. Random samplers draw from
    the softmax of ``logits / temperature`` with their own seeded stream (:meth:`reseed`)."""

    deterministic = False
    options = (SearchOption("token_temperature", "temperature", 1.0, "Softmax temperature of token sampling."),)

    def __init__(self, temperature: float = 1.0, seed: int = 0, min_length: int = 0):
        if not temperature > 0:
            raise ValueError(f"temperature={temperature} is not valid; it must be > 0 (1 samples the model's softmax).")
        self._set_min_length(min_length)
        self.temperature, self.seed = float(temperature), seed
        self.seed_generator = None if self.deterministic else keras.random.SeedGenerator(seed)

    def get_next_token(self, logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """``logits [K, V]`` (float32) and a stateless ``seed [2]`` -> next tokens ``[K]`` int32."""
        raise NotImplementedError

    def reseed(self, seed: int) -> None:
        if self.seed_generator is not None:
            self.seed_generator.state.assign(tf.constant([seed, 0], self.seed_generator.state.dtype))

    def _own_description(self) -> str:
        return self.name if self.deterministic else f"{self.name} (temperature {self.temperature:g})"

    def __call__(self, model, state, attention_temperature, max_length, seed=None):
        batch = tf.shape(state.time)[0]
        if seed is not None:  # a stateless seed [2] (an exported model's request)
            base_seed = tf.cast(seed, tf.int64)
        elif not self.deterministic:
            base_seed = tf.cast(self.seed_generator.next(), tf.int64)
        else:
            base_seed = tf.zeros([2], tf.int64)

        def keep_going(step, tokens, state, finished, outputs):
            return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

        def body(step, tokens, state, finished, outputs):
            active = tf.where(tf.logical_not(finished))[:, 0]
            logits, _, state = model.step(tokens, state, attention_temperature, logit_rows=active)
            seed = tf.random.experimental.stateless_fold_in(base_seed, tf.cast(step, tf.int64))
            active_tokens = self.get_next_token(self.suppress_end(tf.cast(logits, tf.float32), step), seed)
            next_tokens = tf.tensor_scatter_nd_update(tf.fill(tf.shape(tokens), PAD_ID), active[:, None], active_tokens)
            finished = finished | tf.equal(next_tokens, EOS_ID)
            return step + 1, next_tokens, state, finished, outputs.write(step, next_tokens)

        initial = (tf.constant(0), tf.fill([batch], GO_ID), state, tf.zeros([batch], tf.bool),
                   tf.TensorArray(tf.int32, size=max_length))
        steps, _, _, _, outputs = tf.while_loop(keep_going, body, initial, maximum_iterations=max_length)
        ids = tf.transpose(outputs.gather(tf.range(steps)))
        return tf.pad(ids, [[0, 0], [0, max_length - steps]], constant_values=PAD_ID)


def _categorical(logits, seed):
    return tf.random.stateless_categorical(logits, 1, seed, dtype=tf.int32)[:, 0]


@register_search
class GreedySampler(Sampler):
    """The most probable token (the paper's decoding)."""

    name, deterministic, options = "greedy", True, ()

    def get_next_token(self, logits, seed):
        return tf.argmax(logits, axis=-1, output_type=tf.int32)


@register_search
class RandomSampler(Sampler):
    """A token drawn from softmax(logits / temperature)."""

    name = "random"

    def get_next_token(self, logits, seed):
        return _categorical(logits / self.temperature, seed)

    def _own_tag(self):
        return f"random{self.temperature:g}" if self.temperature != 1 else "random"


@register_search
class TopKSampler(Sampler):
    """A token drawn from the ``k`` most probable ones (their softmax with temperature)."""

    name = "top_k"
    options = (SearchOption("top_k", "k", 10, "Tokens sampled from."), *Sampler.options)

    def __init__(self, k: int = 10, temperature: float = 1.0, seed: int = 0, min_length: int = 0):
        if not (isinstance(k, int) and k >= 1):
            raise ValueError(f"top_k={k!r} is not valid; it must be an integer >= 1 (1 is greedy).")
        super().__init__(temperature, seed, min_length)
        self.k = k

    def get_next_token(self, logits, seed):
        values, indices = tf.math.top_k(logits, k=tf.minimum(self.k, tf.shape(logits)[-1]))
        return tf.gather(indices, _categorical(values / self.temperature, seed), batch_dims=1)

    def _own_tag(self):
        return f"top_k{self.k}"

    def _own_description(self):
        return f"top-k (k {self.k}, temperature {self.temperature:g})"


@register_search
class TopPSampler(Sampler):
    """Nucleus sampling: a token drawn from the smallest set of most probable tokens whose
    probability (softmax with temperature) reaches ``p``; the most probable token is always in it.

    The set is defined up to float rounding: a token joins it only when the mass of the tokens
    before it falls short of ``p`` by more than ``tolerance``, so a set whose mass equals ``p``
    (0.4 computed as 0.39999998 on one CPU, 0.40000001 on another) is the same on every machine.
    ``p = 1`` keeps every token.

    Exact and fast: the nucleus is looked for among the ``candidates`` most probable tokens, and
    only the rows whose nucleus is larger are sorted over the whole vocabulary."""

    name = "top_p"
    options = (SearchOption("top_p", "p", 0.9, "Probability mass of the nucleus."), *Sampler.options)
    tolerance = 1e-5  # float32 cumulative sums of up to a few hundred probabilities are off by less

    def __init__(self, p: float = 0.9, temperature: float = 1.0, seed: int = 0, candidates: int = 256,
                 min_length: int = 0):
        if not 0 < p <= 1:
            raise ValueError(f"top_p={p!r} is not valid; it must be in (0, 1] (near 0 is greedy, 1 samples every token).")
        super().__init__(temperature, seed, min_length)
        self.p, self.candidates = float(p), candidates
        # Below half of p the tolerance never reaches, so the top token (mass before it 0) stays in.
        self._threshold = float("inf") if p >= 1 else max(self.p - self.tolerance, self.p / 2)

    def _sample_sorted(self, logits, k, seed):
        """From the ``k`` most probable tokens of ``logits [R, V]``: the nucleus, if it lies among them."""
        probabilities = tf.nn.softmax(logits)
        top, indices = tf.math.top_k(probabilities, k=k)
        mass_before = tf.math.cumsum(top, axis=-1, exclusive=True)
        nucleus = tf.where(mass_before < self._threshold, tf.math.log(top), tf.cast(-float("inf"), top.dtype))
        covered = tf.reduce_sum(top, axis=-1) >= self._threshold
        return tf.gather(indices, _categorical(nucleus, seed), batch_dims=1), covered

    def get_next_token(self, logits, seed):
        logits = logits / self.temperature
        vocab = tf.shape(logits)[-1]
        tokens, covered = self._sample_sorted(logits, tf.minimum(self.candidates, vocab), seed)
        wider = tf.where(tf.logical_not(covered))[:, 0]  # rows whose nucleus is not among the candidates
        wide_tokens, _ = self._sample_sorted(tf.gather(logits, wider), vocab, seed)
        return tf.tensor_scatter_nd_update(tokens, wider[:, None], wide_tokens)

    def _own_tag(self):
        return f"top_p{self.p:g}"

    def _own_description(self):
        return f"top-p (p {self.p:g}, temperature {self.temperature:g})"
