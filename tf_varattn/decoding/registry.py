"""The searches by name: :data:`SEARCHES`, filled by :func:`register_search`. Each search
describes itself (:attr:`Search.options`, :attr:`Search.deterministic`), so building one by name,
its flags and the scripts' choices need no per-search code: a new search is one class with
``@register_search``."""

from __future__ import annotations

from tf_varattn.decoding.search import Search

SEARCHES: dict[str, type[Search]] = {}


def register_search(cls: type[Search]) -> type[Search]:
    """Class decorator: ``cls`` becomes the search named ``cls.name``."""
    if SEARCHES.get(cls.name, cls) is not cls:
        raise ValueError(f"A search named {cls.name!r} is registered already ({SEARCHES[cls.name].__name__}).")
    SEARCHES[cls.name] = cls
    return cls


def search_options() -> dict[str, tuple]:
    """Every option flag of the registered searches -> ``(default, help, searches taking it)``."""
    found = {}
    for name, cls in SEARCHES.items():
        for option in cls.options:
            default, help_text, users = found.get(option.flag, (option.default, option.help, []))
            found[option.flag] = (default, help_text, users + [name])
    return found


def get_search(name: str, seed: int = 0, min_length: int = 0, **options) -> Search:
    """The search registered as ``name`` with its options (by flag name; the options of other
    searches are ignored, an option no search has is an error); ``seed`` seeds a search that
    samples tokens, ``min_length`` applies to every search."""
    if name not in SEARCHES:
        raise ValueError(f"search={name!r} is not valid; choose one of: {', '.join(SEARCHES)}.")
    known = search_options()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"Unknown search option(s) {unknown}; the searches take: {', '.join(known)}.")
    cls = SEARCHES[name]
    arguments = {option.argument: options.get(option.flag, option.default) for option in cls.options}
    if not cls.deterministic:
        arguments["seed"] = seed
    return cls(**arguments, min_length=min_length)


def comparison_rows() -> list[tuple]:
    """The rows of ``experiments/compare_searches.py``, ``(search, options, latent mode, outputs per
    input: None = as many as asked)``: the paper's greedy rows (latent means, sampled latents), then
    every other registered search with its default options on the latent means, one output per
    input if it is deterministic."""
    others = [name for name in SEARCHES if name != "greedy"]
    return ([("greedy", {}, "map", 1)] + [(name, {}, "map", 1) for name in others if SEARCHES[name].deterministic]
            + [("greedy", {}, "sample", None)]
            + [(name, {}, "map", None) for name in others if not SEARCHES[name].deterministic])


def define_search_flags(flag_values=None) -> None:
    """``--search`` and an absl flag per option of the registered searches (``evaluate.py``,
    ``generate.py``, ``export.py``); each option's help names the searches that use it. The flags
    belong to the calling script, so its ``--help`` lists them."""
    from absl import flags

    flags.disclaim_key_flags()  # absl attributes flags defined from here on to this function's caller
    flag_values = flags.FLAGS if flag_values is None else flag_values
    flags.DEFINE_enum("search", "greedy", list(SEARCHES), "How tokens are chosen: greedy is the paper's decoding.",
                      flag_values=flag_values)
    kinds = {bool: flags.DEFINE_boolean, int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}
    for flag, (default, help_text, users) in search_options().items():
        kinds[type(default)](flag, default, f"{help_text} (--search {' / '.join(users)})", flag_values=flag_values)
    flags.DEFINE_integer("min_length", 0, "No EOS before an output has this many tokens (every search; 0: the paper's "
                         "decoding, EOS may come first). Its files are named after it (test_metrics-greedy_min5.json).",
                         lower_bound=0, flag_values=flag_values)


def search_from_flags(flag_values=None) -> Search:
    """The search the flags of :func:`define_search_flags` choose."""
    from absl import flags

    values = flags.FLAGS if flag_values is None else flag_values
    cls = SEARCHES[values.search]
    return get_search(values.search, min_length=values.min_length,
                      **{option.flag: values[option.flag].value for option in cls.options})
