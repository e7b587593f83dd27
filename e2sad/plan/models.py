"""Which models a checked config implies: the declared ones, the second-step ablation's variants
and the frontier's equal-cost and own-recipe models, derived here once and checked like declared
ones (:func:`e2sad.config.relations.check_relations`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..config.relations import check_relations
from ..defenses import step_flops, step_time
from ..errors import ConfigError
from ..flops import network_pass_flops

#: separator of a derived model's name: ``<model>__<variant>``, ``<model>__equal_cost_x2``
SEP = "__"
#: the frontier's protocols, in the order of the schema's enum
PROTOCOLS = ("equal_iterations", "equal_cost", "own_recipe")
#: the training keys a frontier recipe may set (the rest come from training.<dataset>)
RECIPE_KEYS = ("batch_size", "optimizer", "lr", "schedule", "eps_warmup")
#: keys of a model entry that place it in a table but do not change how it is trained
PLACEMENT_KEYS = ("column", "label", "train_steps")
#: a derived model's name, like a declared one's (the schema's pattern for names)
NAME = re.compile(r"[A-Za-z0-9_.-]+")


def steps_of(config: dict, m: dict) -> int:
    """Training iterations of a model entry: its own ``train_steps`` (a derived model), else its
    dataset's ``training.<dataset>.steps``."""
    return int(m.get("train_steps", config["training"][m["dataset"]]["steps"]))


def training_of(config: dict, m: dict) -> dict:
    """A model entry's training settings: its dataset's ``training.<dataset>``, with a frontier
    recipe's batch size, optimizer, lr, schedule and eps warm-up over them (``<model>__own_recipe``)."""
    return {**config["training"][m["dataset"]], **(m.get("train_recipe") or {})}


# --------------------------------------------------------------------------- #
# The second-step ablation
# --------------------------------------------------------------------------- #


def ablation_variant_models(config: dict) -> dict[str, str]:
    """Variant -> model name.  The variant the base model already uses is the base model itself
    (same hyperparameters, not trained twice); every other variant is ``<base>__<variant>``."""
    ab = config.get("ablation") or {}
    if not ab:
        return {}
    base = ab["base"]
    own = config["models"].get(base, {}).get("second_step")
    return {v: (base if v == own else f"{base}{SEP}{v}") for v in ab["variants"]}


def ablation_models(config: dict) -> dict[str, dict]:
    """The model entries the ablation adds: the base model's entry with only ``second_step`` (and
    the column header) changed, so budget, seeds and every other hyperparameter are the base's."""
    ab = config.get("ablation") or {}
    base = config["models"].get(ab["base"]) if ab else None
    if base is None:
        return {}
    out = {}
    for variant, name in ablation_variant_models(config).items():
        if name == ab["base"]:
            continue
        m = {**base, "second_step": variant, "column": f"{base['column']} ({variant})"}
        if variant == "random_start" and "sigma" in ab:
            m["sigma"] = ab["sigma"]
        out[name] = m
    return out


# --------------------------------------------------------------------------- #
# The cost-robustness frontier
# --------------------------------------------------------------------------- #


def frontier_model_name(model: str, protocol: str, multiple: float = 1) -> str:
    """The model a (declared model, protocol, budget multiple) cell is trained as."""
    if protocol == "equal_iterations":
        return model
    return f"{model}{SEP}{protocol}" + ("" if multiple == 1 else f"_x{multiple:g}")


def equal_cost_steps(budget_cost: float, step_cost: float) -> int:
    """Steps whose cost is the budget's (at least 1): round(budget / cost of one step)."""
    if step_cost <= 0:
        raise ConfigError(f"frontier: a training step of cost {step_cost} cannot be budgeted")
    return max(1, int(round(budget_cost / step_cost)))


def frontier_plan(config: dict, step_cost: Callable[[dict], float]) -> tuple[dict[str, dict], list[tuple]]:
    """The frontier's derived model entries and its cells (declared model, protocol, trained model,
    budget multiple or None), in the config's order.

    For ``equal_cost``, each model's own entry with ``train_steps`` set so that its training cost is
    ``multiple`` x the unit (the budget model's cost at ``frontier.budget_steps``, by default its own
    steps) for each multiple of ``frontier.budgets``; for ``own_recipe``, each model of
    ``frontier.recipes`` with the recipe's steps and ``train_recipe``.  ``step_cost(entry)``: the
    training FLOPs of one step of a model entry (:func:`entry_flops`).  A derived entry that trains
    exactly as a declared model (the same defense, hyperparameters and steps) is that model:
    nothing is trained twice."""
    fr = config.get("frontier") or {}
    if not fr:
        return {}, []
    models = config["models"]

    def training(m: dict) -> tuple:
        return tuple(sorted((k, repr(v)) for k, v in m.items() if k not in PLACEMENT_KEYS)) + (steps_of(config, m),)

    declared = {}
    for name, m in models.items():
        declared.setdefault(training(m), name)
    entries, cells = {}, []

    def add(model: str, protocol: str, entry: dict, multiple) -> None:
        key = training(entry)
        own = model if key == training(models[model]) else None
        trained = own or declared.get(key) or frontier_model_name(model, protocol, multiple or 1)
        if trained not in models:
            entries[trained] = entry
        cells.append((model, protocol, trained, multiple))

    budget, recipes = fr["budget"], fr.get("recipes") or {}
    for protocol in fr["protocols"]:
        for name in fr["models"]:
            m = models[name]
            if protocol == "equal_iterations":
                cells.append((name, protocol, name, None))
            elif protocol == "own_recipe" and name in recipes:
                r = recipes[name]
                recipe = {k: r[k] for k in RECIPE_KEYS if k in r}
                add(name, protocol, {**m, "train_steps": int(r["steps"]), "train_recipe": recipe}, None)
        if protocol == "equal_cost":
            unit = fr.get("budget_steps", steps_of(config, models[budget])) * step_cost(models[budget])
            for multiple in fr["budgets"]:
                for name in fr["models"]:
                    steps = equal_cost_steps(multiple * unit, step_cost(models[name]))
                    add(name, protocol, {**models[name], "train_steps": steps}, multiple)
    return entries, cells


# --------------------------------------------------------------------------- #
# All of them, checked
# --------------------------------------------------------------------------- #


def check_derived(config: dict, derived: dict[str, dict], whose: str, base_dir=".") -> None:
    """Derived models take no declared model's name, have names like declared ones, and pass the
    relations' checks of declared models (their defense and hyperparameters are declared)."""
    clash = sorted(set(derived) & set(config["models"]))
    if clash:
        raise ConfigError(f"config: models.{clash[0]}: name taken by {whose}; rename it")
    for name in derived:
        if not NAME.fullmatch(name):
            raise ConfigError(f"config: {whose}: derived model name {name!r} is not allowed")
    if derived:
        check_relations({**config, "models": {**config["models"], **derived}}, base_dir)


def study_models(config: dict, step_cost: Callable[[dict], float], base_dir=".") -> tuple[dict, list[tuple]]:
    """(every model the study trains, by name; the frontier's cells): the declared models, the
    ablation's variants and the frontier's derived models, each derived group checked."""
    ablation = ablation_models(config)
    check_derived(
        config, ablation, f"the ablation of '{(config.get('ablation') or {}).get('base')}' (variant model)", base_dir
    )
    with_ablation = {**config, "models": {**config["models"], **ablation}}
    frontier, cells = frontier_plan(config, step_cost)
    check_derived(with_ablation, frontier, "the frontier's derived model", base_dir)
    return {**with_ablation["models"], **frontier}, cells


def entry_flops(config: dict, m: dict) -> float:
    """Training FLOPs of one step of a model entry: its batch (its recipe's) x the defense's declared
    passes, each counted on its dataset's network (:func:`e2sad.defenses.step_flops`,
    :func:`e2sad.flops.network_pass_flops`)."""

    d = config["data"][m["dataset"]]
    flops = network_pass_flops(d["network"], d["channels"], d["size"], d["classes"])
    merge = config["compute"]["merge_clean"]
    return training_of(config, m)["batch_size"] * step_flops(m["defense"], m, flops, merge)


def entry_time(config: dict, m: dict) -> float:
    """One training step of a model entry in forward passes' time of one image: its batch x the
    defense's declared passes weighted by their measured time (:func:`e2sad.defenses.step_time`);
    for ordering jobs and projecting time only (:mod:`.cost`)."""
    return training_of(config, m)["batch_size"] * step_time(m["defense"], m, config["compute"]["merge_clean"])
