"""The attention posteriors by name (the config's ``attention`` values), no attention included.

Each entry says what the model needs to know without building it: the layer (a class, or its
``"module:Class"`` path, so that this table imports no TensorFlow), whether it is random (a
posterior with a prior and a KL term, so only in a VED), what it draws (the context vector or the
attention weights: what its sigma means in the figures) and which config fields it reads
(``config field -> the layer's constructor argument``). Options beyond those travel in the config's
``attention_options`` (constructor arguments by name). A new attention distribution is one
:class:`~tf_varattn.layers.AttentionPosterior` subclass plus one :func:`register_attention_posterior`.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Mapping, Optional, Union


@dataclasses.dataclass(frozen=True)
class AttentionKind:
    name: str
    layer: Optional[Union[str, type]]  # None: no attention
    random: bool = False
    draws: str = "context"  # "context" (a_j, Sec. 3) or "weights" (alpha_j)
    config_options: Mapping[str, str] = dataclasses.field(default_factory=dict)
    description: str = ""

    @property
    def attends(self) -> bool:
        return self.layer is not None

    def layer_class(self) -> type:
        if isinstance(self.layer, str):
            module, _, name = self.layer.partition(":")
            return getattr(importlib.import_module(module), name)
        return self.layer


ATTENTION_POSTERIORS: dict[str, AttentionKind] = {}


def register_attention_posterior(kind: AttentionKind) -> AttentionKind:
    """Makes ``kind`` the attention named ``kind.name`` (a config ``attention`` value)."""
    if ATTENTION_POSTERIORS.get(kind.name, kind) != kind:
        raise ValueError(f"An attention named {kind.name!r} is registered already.")
    ATTENTION_POSTERIORS[kind.name] = kind
    return kind


def get_attention(name: str) -> AttentionKind:
    try:
        return ATTENTION_POSTERIORS[name]
    except KeyError:
        raise ValueError(f"attention={name!r} is not valid; choose one of: {', '.join(ATTENTION_POSTERIORS)}.") from None


def posterior_options(settings) -> dict:
    """The constructor arguments of ``settings.attention``'s layer: its config fields, then
    ``settings.attention_options``."""
    kind = get_attention(settings.attention)
    options = {argument: getattr(settings, field) for field, argument in kind.config_options.items()}
    return {**options, **dict(getattr(settings, "attention_options", None) or {})}


def option_fields() -> set[str]:
    """Every config field some attention reads (inert for the others)."""
    return {field for kind in ATTENTION_POSTERIORS.values() for field in kind.config_options}


class RegisteredNames:
    """The registered names, read when used (a live ``FIELD_CHOICES`` entry)."""

    def __iter__(self):
        return iter(list(ATTENTION_POSTERIORS))

    def __contains__(self, name) -> bool:
        return name in ATTENTION_POSTERIORS

    def __len__(self) -> int:
        return len(ATTENTION_POSTERIORS)


for _kind in (
    AttentionKind("none", None, description="no attention"),
    AttentionKind("deterministic", "tf_varattn.layers.attention_posterior:DeterministicAttention",
                  description="a_det_j itself (Eq. 5)"),
    AttentionKind("variational", "tf_varattn.layers.variational_attention:VariationalAttention", random=True,
                  config_options={"attention_prior": "prior"}, description="Gaussian a_j (Sec. 3)"),
    AttentionKind("dirichlet", "tf_varattn.layers.dirichlet_attention:DirichletAttention", random=True,
                  draws="weights", config_options={"dirichlet_transform": "transform", "dirichlet_floor": "floor",
                                                   "dirichlet_prior": "prior_concentration"},
                  description="Dirichlet alpha_j (beyond the paper, Sec. 3.5)"),
):
    register_attention_posterior(_kind)
