"""absl flags for every :class:`~tf_varattn.config.Config` field, so experiments can override any of them.

Each field gets a flag of the same name whose default (``None``) means "the preset's
value"; fields with a fixed set of values are enum flags, so a bad value stops with
the list of valid ones.
"""

from __future__ import annotations

import dataclasses
import json
import typing

from absl import flags

from tf_varattn import config as config_lib

# Fields chosen by dedicated flags of the scripts (--model, --task).
SPECIAL = ("preset", "task")


def define_config_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines ``--<field>`` for every config field except ``preset`` and ``task``; the flags belong
    to the calling script, so its ``--help`` lists them."""
    flags.disclaim_key_flags()  # absl attributes flags defined from here on to this function's caller
    hints = typing.get_type_hints(config_lib.Config)
    defaults = config_lib.Config()
    for field in dataclasses.fields(config_lib.Config):
        if field.name in SPECIAL:
            continue
        kind = hints[field.name]
        default = getattr(defaults, field.name)
        help_text = f"{field.metadata['help']} (default: the preset's; base {default!r})"
        if field.name in config_lib.FIELD_CHOICES:
            flags.DEFINE_enum(field.name, None, list(config_lib.FIELD_CHOICES[field.name]), help_text, flag_values=flag_values)
        elif kind is dict:  # name=value pairs
            flags.DEFINE_list(field.name, None, help_text, flag_values=flag_values)
            flags.register_validator(field.name, lambda pairs: pairs is None or all("=" in p for p in pairs),
                                     message=f"--{field.name} takes name=value pairs, e.g. prior_scale=0.5,learn=true",
                                     flag_values=flag_values)
        elif kind in (bool, typing.Optional[bool]):
            flags.DEFINE_boolean(field.name, None, help_text, flag_values=flag_values)
        elif kind in (int, typing.Optional[int]):
            flags.DEFINE_integer(field.name, None, help_text, flag_values=flag_values)
        elif kind is float:
            flags.DEFINE_float(field.name, None, help_text, flag_values=flag_values)
        else:
            flags.DEFINE_string(field.name, None, help_text, flag_values=flag_values)


def config_overrides(flag_values: flags.FlagValues = flags.FLAGS) -> dict:
    """The config fields given on the command line (or in a ``--flagfile``)."""
    hints = typing.get_type_hints(config_lib.Config)
    return {
        field.name: (pairs_to_dict(flag_values[field.name].value) if hints[field.name] is dict
                     else flag_values[field.name].value)
        for field in dataclasses.fields(config_lib.Config)
        if field.name not in SPECIAL and flag_values[field.name].present
    }


def pairs_to_dict(pairs: list[str]) -> dict:
    """``["scale=0.5", "learn=true", "kind=exp"]`` -> ``{"scale": 0.5, "learn": True, "kind": "exp"}``
    (each value read as JSON where it is JSON, else kept as text)."""
    result = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        try:
            result[name.strip()] = json.loads(text)
        except json.JSONDecodeError:
            result[name.strip()] = text
    return result


def check_choices(name: str, choices, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """A validator of the list flag ``--name``: every value one of ``choices`` (absl then stops a bad
    value at parsing, naming the valid ones)."""
    choices = list(choices)
    flags.register_validator(name, lambda values: values is None or set(values) <= set(choices),
                             message=f"--{name} takes {', '.join(map(str, choices))}", flag_values=flag_values)


def check_integers(name: str, minimum: int = 0, at_least_one: bool = False,
                   flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """A validator of the list flag ``--name``: whole numbers >= ``minimum`` (and one or more)."""
    def valid(values):
        return (not at_least_one or bool(values)) and all(v.lstrip("-").isdigit() and int(v) >= minimum for v in values)
    flags.register_validator(name, valid, flag_values=flag_values,
                             message=f"--{name} takes {'one or more ' if at_least_one else ''}whole numbers >= {minimum}, "
                                     "e.g. 0,1,2")
