import pytest

from tf_varattn.config import PRESETS, Config, get_config


def test_presets_set_the_paper_switches():
    assert get_config("ded").variational is False and get_config("ded").attention == "none"
    assert get_config("ded").decoder_init == "encoder" and get_config("ded").word_dropout == 0.0
    assert get_config("ved_dattn").word_dropout == 0.25 and get_config("ved_dattn").decoder_init == "zero"
    assert get_config("ved_dattn_2stage").attention_start_epoch == 6
    assert get_config("ved_vattn_zero").attention_prior == "zero"
    assert get_config("ved_vattn_mean").attention_prior == "mean"
    assert get_config("vae").autoencoder and get_config("vae_init").decoder_init == "encoder"
    assert get_config("ded", "dialogue").batch_size == 128 and get_config("ded").batch_size == 100
    assert get_config("ved_vattn_dirichlet").attention == "dirichlet" and get_config("ved_vattn_dirichlet").variational
    assert set(PRESETS) == {"ded", "ded_dattn", "ved_dattn", "ved_dattn_2stage", "ved_vattn_zero", "ved_vattn_mean",
                            "ved_vattn_dirichlet", "vae", "vae_init"}


def test_a_field_missing_from_an_older_config_counts_as_its_default():
    from tf_varattn.config import config_differences

    expected = get_config("ved_vattn_mean").to_dict()
    older = {k: v for k, v in expected.items() if not k.startswith("dirichlet_")}
    assert config_differences(older, expected) == []
    dirichlet = get_config("ved_vattn_dirichlet").to_dict()
    older_dirichlet = {k: v for k, v in dirichlet.items() if not k.startswith("dirichlet_")}
    assert config_differences(older_dirichlet, {**dirichlet, "dirichlet_floor": 0.5}) == ["dirichlet_floor"]
    assert config_differences(older_dirichlet, dirichlet) == []


def test_fields_without_effect_on_the_model_do_not_make_another_run():
    from tf_varattn.config import config_differences

    # A run trained before a Dirichlet default changed is the same DED+DAttn / VAttn run.
    for preset in ("ded_dattn", "ved_vattn_mean"):
        expected = get_config(preset).to_dict()
        assert config_differences({**expected, "dirichlet_floor": 0.1}, expected) == []
    dattn = get_config("ved_dattn").to_dict()
    assert config_differences({**dattn, "attention_prior": "zero"}, dattn) == []
    # ... but they count where they act, and a changed attention brings them back.
    vattn = get_config("ved_vattn_mean").to_dict()
    assert config_differences({**vattn, "attention_prior": "zero"}, vattn) == ["attention_prior"]
    dirichlet = get_config("ved_vattn_dirichlet").to_dict()
    assert config_differences({**dirichlet, "dirichlet_floor": 0.1}, dirichlet) == ["dirichlet_floor"]
    assert config_differences({**vattn, "dirichlet_floor": 0.1}, dirichlet) == ["attention", "dirichlet_floor", "preset"]
    with pytest.raises(ValueError, match="needs variational=True"):
        get_config("ded", attention="dirichlet")
    with pytest.raises(ValueError, match="dirichlet_transform='relu' is not valid; choose one of: softplus, exp"):
        get_config("ved_vattn_dirichlet", dirichlet_transform="relu")


def test_overrides_and_errors_name_valid_values():
    assert get_config("ved_vattn_mean", gamma_a=0.5).gamma_a == 0.5
    with pytest.raises(ValueError, match="valid presets: ded, ded_dattn"):
        get_config("transformer")
    with pytest.raises(ValueError, match="attention_kl='all' is not valid; choose one of: last_step, sum"):
        get_config("ved_vattn_mean", attention_kl="all")
    with pytest.raises(ValueError, match="Unknown config field"):
        get_config("ded", lr=1.0)
    with pytest.raises(ValueError, match="needs variational=True"):
        get_config("ded", attention="variational")


def test_dict_roundtrip():
    config = get_config("ved_dattn_2stage", "dialogue", epochs=3)
    assert Config.from_dict(config.to_dict()) == config


def test_every_numeric_field_has_a_valid_range():
    import dataclasses
    import typing

    from tf_varattn.config import FIELD_RANGES

    hints = typing.get_type_hints(Config)
    numeric = {f.name for f in dataclasses.fields(Config) if hints[f.name] in (int, float, typing.Optional[int])}
    assert numeric == set(FIELD_RANGES)


@pytest.mark.parametrize("field, bad, message", [
    ("max_examples", 0, r"max_examples must be in \[1, inf\), got 0"),
    ("gamma_a", -1.0, r"gamma_a must be in \[0, inf\), got -1.0"),
    ("learning_rate", -0.01, r"learning_rate must be in \(0, inf\), got -0.01"),
    ("learning_rate_decay", 1.5, r"learning_rate_decay must be in \(0, 1\], got 1.5"),
    ("dropout", 1.0, r"dropout must be in \[0, 1\), got 1.0"),
])
def test_numeric_fields_out_of_range_are_refused(field, bad, message):
    with pytest.raises(ValueError, match=message):
        get_config("ved_vattn_mean", **{field: bad})


def test_range_boundaries_are_accepted():
    config = get_config("ved_vattn_mean", max_examples=1, gamma_a=0.0, learning_rate_decay=1.0, dropout=0.0,
                        kl_midpoint=-5.0)
    assert config.max_examples == 1 and config.learning_rate_decay == 1.0


def test_list_flag_validators_stop_bad_values_at_parsing_with_the_valid_ones():
    from absl import flags

    from tf_varattn.config_flags import check_choices, check_integers

    def checked_flags():
        values = flags.FlagValues()
        flags.DEFINE_list("tables", ["a"], "", flag_values=values)
        flags.DEFINE_list("seeds", ["0"], "", flag_values=values)
        check_choices("tables", ("a", "b"), flag_values=values)
        check_integers("seeds", minimum=0, at_least_one=True, flag_values=values)
        return values

    values = checked_flags()
    values(["prog", "--tables=b,a", "--seeds=2,0"])
    assert (values.tables, values.seeds) == (["b", "a"], ["2", "0"])
    for argv, message in ((["--tables=c"], "--tables takes a, b"), (["--seeds=-1"], "whole numbers >= 0"),
                          (["--seeds=x"], "whole numbers >= 0"), (["--seeds="], "one or more")):
        with pytest.raises(flags.IllegalFlagValueError, match=message):
            checked_flags()(["prog", *argv])


def test_collapse_remedies_need_a_latent_and_valid_values():
    from tf_varattn.config import get_config
    with pytest.raises(ValueError, match="free_bits act on the latent z"):
        get_config("ded_dattn", free_bits=0.1)
    with pytest.raises(ValueError, match="bow_loss_weight must be in"):
        get_config("ved_dattn", bow_loss_weight=-1.0)
    assert get_config("ved_dattn", bow_loss_weight=1.0, free_bits=0.1).free_bits == 0.1
