import math

import pytest
import tensorflow as tf

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


def test_cyclical_schedule_at_cycle_boundaries():
    # Fu et al. (2019): 100 steps in 4 cycles of 25; lambda rises over the first half of each cycle.
    config = get_config("ved_vattn_mean", kl_schedule="cyclical", kl_cycles=4, kl_ramp=0.5)
    values = {step: float(kl_weight(config, step, total_steps=100)) for step in (0, 5, 12, 13, 24, 25, 30, 50, 75, 99)}
    assert values == pytest.approx({0: 0.0, 5: 0.4, 12: 0.96, 13: 1.0, 24: 1.0, 25: 0.0, 30: 0.4, 50: 0.0, 75: 0.0,
                                    99: 1.0}, abs=1e-6)
    # A cycle of a fractional length: 10 steps in 3 cycles of 3.33 start again at steps 4 and 8.
    config = get_config("ved_vattn_mean", kl_schedule="cyclical", kl_cycles=3, kl_ramp=1.0)
    assert [float(kl_weight(config, s, total_steps=10)) for s in (0, 3, 4, 8)] == pytest.approx([0.0, 0.9, 0.0, 0.0])
    with pytest.raises(ValueError, match="total_steps"):
        kl_weight(config, 3)
    with pytest.raises(ValueError, match="kl_ramp"):
        get_config("ved_vattn_mean", kl_schedule="cyclical", kl_ramp=0.0)


@pytest.mark.parametrize("schedule", ["capped_tanh", "logistic", "linear", "constant", "cyclical"])
def test_every_schedule_compiles_into_the_training_graph(schedule):
    config = get_config("ved_vattn_mean", kl_schedule=schedule, kl_warmup_steps=200)
    compiled = tf.function(lambda step: kl_weight(config, step, total_steps=400))
    assert float(compiled(tf.constant(50, tf.int64))) == pytest.approx(float(kl_weight(config, 50, total_steps=400)))
