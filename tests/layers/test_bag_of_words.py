import numpy as np

from tf_varattn.layers import BagOfWords


def test_bag_of_words_is_a_softmax_of_a_tanh_network_and_config_roundtrips():
    layer = BagOfWords(vocab_size=7, hidden_units=5, latent_dim=3)
    z = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    hidden = np.tanh(z @ layer.hidden.kernel.numpy() + layer.hidden.bias.numpy())
    logits = hidden @ layer.output_layer.kernel.numpy() + layer.output_layer.bias.numpy()
    expected = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(layer(z), expected, rtol=1e-5, atol=1e-6)
    clone = BagOfWords.from_config(layer.get_config())
    assert (clone.vocab_size, clone.hidden_units, clone.latent_dim) == (7, 5, 3)
