import math

import pytest

from tf_varattn.config import get_config
from tf_varattn.training.schedules import kl_weight, learning_rate


def reference_tanh(step):
    return 0.0 if step == 0 else round((math.tanh((min(step, 3000) - 4500) / 1000) + 1) / 2, 6)


def test_capped_tanh_is_the_references_schedule():
    config = get_config("ved_vattn_mean")
    for step in (0, 1, 100, 2999, 3000, 3001, 10_000):
        assert float(kl_weight(config, step)) == pytest.approx(reference_tanh(step), abs=1e-7)
    assert float(kl_weight(config, 0)) == 0.0
    assert float(kl_weight(config, 50_000)) == pytest.approx(0.047426, abs=1e-6)  # never reaches 1


def test_other_schedules():
    logistic = get_config("ved_vattn_mean", kl_schedule="logistic", kl_midpoint=100, kl_width=10)
    assert float(kl_weight(logistic, 100)) == pytest.approx(0.5)
    assert float(kl_weight(logistic, 110)) == pytest.approx(1 / (1 + math.exp(-1)))
    linear = get_config("ved_vattn_mean", kl_schedule="linear", kl_warmup_steps=200)
    assert [float(kl_weight(linear, s)) for s in (0, 50, 200, 500)] == pytest.approx([0, 0.25, 1, 1])
    constant = get_config("ved_vattn_mean", kl_schedule="constant", kl_constant=0.3)
    assert float(kl_weight(constant, 1234)) == pytest.approx(0.3)


def test_learning_rate_decays_per_epoch_with_floor():
    config = get_config("ved_vattn_mean")
    assert learning_rate(config, 0) == 0.005
    assert learning_rate(config, 2) == pytest.approx(0.005 * 0.75**2)
    assert learning_rate(config, 100) == 1e-5
