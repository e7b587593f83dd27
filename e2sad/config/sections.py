"""Checks of the science sections (``ablation``, ``robustness``, ``sanity``, ``frontier``) and of
the released models (``released``): what each names is declared and agrees.  The models these
sections derive (the ablation's variants, the frontier's equal-cost and own-recipe models) are the
plan's (:mod:`e2sad.plan.models`), which checks them like declared ones."""

from __future__ import annotations

from ..attacks import iterative_kinds, single_step_kinds
from ..defenses import DEFENSES, SECOND_STEP
from ..errors import ConfigError
from ..released import RELEASES
from ..schedules import SCHEDULES
from .messages import few
from .relations import check_attack


def _need_table(config: dict, where: str, tname: str, kind: str | None = None) -> None:
    tables = config["tables"]
    if tname not in tables:
        raise ConfigError(f"config: {where}: table '{tname}' is not declared under tables")
    if kind and tables[tname]["kind"] != kind:
        raise ConfigError(f"config: {where}: table '{tname}' is a {tables[tname]['kind']} table, need {kind}")


def _check_ablation(config: dict, ab: dict) -> list[str]:
    """The second-step ablation: an e2sad base model in a white-box table, declared variants (the
    derived models, ``<base>__<variant>``, are checked by the plan like declared ones)."""
    models, base = config["models"], ab["base"]
    if base not in models:
        raise ConfigError(f"config: ablation.base: model '{base}' is not declared under models")
    if models[base]["defense"] != "e2sad":
        raise ConfigError(
            f"config: ablation.base: model '{base}' has defense '{models[base]['defense']}'; "
            "the second-step ablation needs an e2sad model"
        )
    for i, v in enumerate(ab["variants"]):
        if v not in SECOND_STEP.choices:
            raise ConfigError(
                f"config: ablation.variants.{i}: {v!r} is not allowed; allowed: {', '.join(SECOND_STEP.choices)}"
            )
    tname = ab["table"]
    _need_table(config, "ablation.table", tname, "whitebox")
    if base not in config["tables"][tname]["models"]:
        raise ConfigError(f"config: ablation.table: table '{tname}' does not list the base model '{base}'")
    warnings = []
    if "sigma" in ab and "random_start" not in ab["variants"]:
        warnings.append("ablation.sigma is set but 'random_start' is not among ablation.variants; it is unused")
    return warnings


def _check_seed_subsets(config: dict) -> None:
    for section in ("robustness", "sanity"):
        sub = config.get(section) or {}
        stray = [x for x in sub.get("seeds", []) if x not in config["seeds"]]
        if stray:
            raise ConfigError(
                f"config: {section}.seeds: seed {stray[0]} is not in seeds {config['seeds']}; "
                f"{section} runs on models that the study trains, so list a subset of seeds"
            )


def _check_robustness(config: dict, rb: dict) -> list[str]:
    """The stronger evaluation: white-box tables, a reference attack and new attacks at its eps."""
    attacks = config["attacks"]
    for t in rb["tables"]:
        _need_table(config, "robustness.tables", t, "whitebox")
    for where, a in [("robustness.reference", rb["reference"])] + [("robustness.also", a) for a in rb["also"]]:
        if a not in attacks:
            raise ConfigError(f"config: {where}: attack '{a}' is not declared under attacks")
        if attacks[a]["kind"] == "none":
            raise ConfigError(f"config: {where}: attack '{a}' is no attack; name a white-box attack")
    warnings = []
    for name, a in rb["attacks"].items():
        where = f"robustness.attacks.{name}"
        if name in attacks:
            raise ConfigError(f"config: {where}: name already used under attacks; give it another name")
        check_attack(where, a)
        if a["kind"] == "pgd" and a.get("restarts", 1) < 5:
            warnings.append(f"{where}: PGD with {a.get('restarts', 1)} restart(s); the study asks for >= 5")
    ref_eps = attacks[rb["reference"]].get("eps")
    for where, a in [(f"robustness.attacks.{n}", x) for n, x in rb["attacks"].items()] + [
        ("robustness.also", attacks[n]) for n in rb["also"]
    ]:
        if abs(float(a["eps"]) - float(ref_eps)) > 1e-9:
            raise ConfigError(
                f"config: {where}: eps {a['eps']} differs from the reference attack's eps {ref_eps}; "
                "the strongest attack is taken over one budget"
            )
    return warnings


def _check_sanity(config: dict, sn: dict) -> list[str]:
    """The sanity checks: declared tables, an eps sweep that grows toward 1, k for iterative sweeps."""
    for t in sn["tables"]:
        _need_table(config, "sanity.tables", t)
    eps = sorted(sn["eps"])
    if eps[-1] < 0.5:
        raise ConfigError(
            f"config: sanity.eps: largest eps {eps[-1]} is below 0.5; the sweep must grow toward 1 "
            "(accuracy should fall to about 0)"
        )
    for name, s in sn["sweeps"].items():
        if s["kind"] in iterative_kinds() and "k" not in s:
            raise ConfigError(f"config: sanity.sweeps.{name}: kind '{s['kind']}' needs k")
    kinds = {s["kind"] for s in sn["sweeps"].values()}
    if kinds & set(single_step_kinds()) and kinds & set(iterative_kinds()):
        return []
    return [
        "sanity.sweeps: without both a single-step (fgsm) and an iterative (ifgsm, pgd) sweep the "
        "'iterative >= single-step' check uses the tables' attacks only"
    ]


def check_science(config: dict) -> list[str]:
    """Cross-field checks of ``ablation``, ``robustness``, ``frontier`` and ``sanity`` of a resolved
    config.  Returns warnings; raises :class:`ConfigError` on errors."""
    warnings: list[str] = []
    if config.get("ablation"):
        warnings += _check_ablation(config, config["ablation"])
    _check_seed_subsets(config)
    if config.get("robustness"):
        warnings += _check_robustness(config, config["robustness"])
    if config.get("frontier"):
        warnings += _check_frontier(config, config["frontier"])
    if config.get("sanity"):
        warnings += _check_sanity(config, config["sanity"])
    if (config.get("released") or {}).get("models"):
        _check_released(config, config["released"])
    return warnings


def _check_frontier(config: dict, fr: dict) -> list[str]:
    """The frontier section: its models, budget, attacks and dataset are declared and agree."""
    models, data = config["models"], config["data"]
    known = {**config["attacks"], **((config.get("robustness") or {}).get("attacks") or {})}
    if fr["dataset"] not in data:
        raise ConfigError(f"config: frontier.dataset: dataset '{fr['dataset']}' is not declared under data")
    for i, m in enumerate(fr["models"]):
        if m not in models:
            raise ConfigError(f"config: frontier.models.{i}: model '{m}' is not declared under models")
        if models[m]["dataset"] != fr["dataset"]:
            raise ConfigError(
                f"config: frontier.models.{i}: model '{m}' is trained on '{models[m]['dataset']}', "
                f"not on the frontier's dataset '{fr['dataset']}'"
            )
    budget = fr["budget"]
    if budget not in fr["models"]:
        raise ConfigError(f"config: frontier.budget: '{budget}' is not one of frontier.models ({few(fr['models'])})")
    for i, a in enumerate(fr["attacks"]):
        if a not in known:
            raise ConfigError(
                f"config: frontier.attacks.{i}: attack '{a}' is not declared under attacks or robustness.attacks"
            )
    for key in ("robust", "reference"):
        if key in fr and fr[key] not in fr["attacks"]:
            raise ConfigError(f"config: frontier.{key}: '{fr[key]}' is not one of frontier.attacks")
    for i, s in enumerate(fr["seeds"]):
        if s not in config["seeds"]:
            raise ConfigError(f"config: frontier.seeds.{i}: seed {s} is not in seeds {config['seeds']}")
    for m, seeds in (fr["model_seeds"] or {}).items():
        if m not in fr["models"]:
            raise ConfigError(
                f"config: frontier.model_seeds.{m}: model '{m}' is not one of frontier.models ({few(fr['models'])})"
            )
        for i, s in enumerate(seeds):
            if s not in config["seeds"]:
                raise ConfigError(f"config: frontier.model_seeds.{m}.{i}: seed {s} is not in seeds {config['seeds']}")

    if fr["snapshots"]:
        for i, p in enumerate(fr.get("snapshot_protocols") or []):
            if p not in fr["protocols"]:
                raise ConfigError(
                    f"config: frontier.snapshot_protocols.{i}: '{p}' is not one of frontier.protocols "
                    f"({few(fr['protocols'])}): its models are not trained"
                )
    snap = fr.get("snapshot_attacks") or []
    for i, a in enumerate(snap):
        if a not in known:
            raise ConfigError(
                f"config: frontier.snapshot_attacks.{i}: attack '{a}' is not declared "
                "under attacks or robustness.attacks"
            )
    if fr.get("snapshots"):
        kinds = [known[a]["kind"] for a in snap]
        if not set(kinds) & set(single_step_kinds()) or not set(kinds) & set(iterative_kinds()):
            raise ConfigError(
                f"config: frontier.snapshot_attacks: {snap} needs one single-step ({', '.join(single_step_kinds())}) "
                f"and one iterative attack ({', '.join(iterative_kinds())}) to flag catastrophic overfitting"
            )

    recipes, notes = fr.get("recipes") or {}, []
    for name, r in recipes.items():
        if name not in models:
            raise ConfigError(f"config: frontier.recipes.{name}: model '{name}' is not declared under models")
        if "schedule" in r and r["schedule"] not in SCHEDULES:
            raise ConfigError(
                f"config: frontier.recipes.{name}.schedule: {r['schedule']!r} is not allowed; "
                f"allowed: {', '.join(SCHEDULES)}"
            )
    unused = [m for m in recipes if m not in fr["models"]]
    if unused and "own_recipe" in fr["protocols"]:  # config.yaml declares recipes an overlay's frontier may leave out
        notes.append(f"frontier.recipes: {', '.join(unused)} not among frontier.models; their own recipes add no row")
    if "own_recipe" in fr["protocols"] and not recipes:
        notes.append("frontier.protocols: own_recipe without frontier.recipes adds no row")
    return notes


#: keys of a released model's entry that are not its defense's hyperparameters
RELEASED_META = ("release", "file", "dataset", "defense", "steps", "batch_size", "label", "published", "source")


def _check_released(config: dict, rel: dict) -> None:
    """The released models: a known release format, a dataset the study runs whose images the
    format's network takes, a declared defense with its recipe's hyperparameters, and declared
    attacks (an absent file is a note: :func:`released_absent`; ``published`` names a result of the
    science, checked by the plan: :func:`e2sad.plan.study.check_published`)."""

    for name, r in rel["models"].items():
        where = f"released.models.{name}"
        if r["release"] not in RELEASES:
            raise ConfigError(
                f"config: {where}.release: {r['release']!r} is not a known release format; known: {', '.join(RELEASES)}"
            )
        fmt, ds = RELEASES[r["release"]], r["dataset"]
        if ds not in config["data"]:
            raise ConfigError(
                f"config: {where}.dataset: {ds!r} is not declared under data; declared: {few(config['data'])}"
            )
        if ds not in config["datasets"]:
            raise ConfigError(
                f"config: {where}.dataset: {ds!r} is not one of datasets ({few(config['datasets'])}); "
                "a released model is evaluated on a dataset the study prepares"
            )
        d = config["data"][ds]
        have, need = (d["channels"], d["size"], d["classes"]), (fmt.channels, fmt.size, fmt.classes)
        if have != need:
            raise ConfigError(
                f"config: {where}.dataset: {ds} has {have[0]}x{have[1]}x{have[1]} images of {have[2]} classes, "
                f"a {fmt.name} model ({fmt.network}) takes {need[0]}x{need[1]}x{need[1]} of {need[2]}"
            )
        hp = {k: v for k, v in r.items() if k not in RELEASED_META}
        try:
            DEFENSES.get_decl(r["defense"], f"{where}.defense").check(hp, where, "hyperparameter")
        except ConfigError as exc:
            raise ConfigError(f"config: {exc}") from None
    known = {**config["attacks"], **((config.get("robustness") or {}).get("attacks") or {})}
    if not rel["attacks"]:
        raise ConfigError(
            "config: released.attacks: empty; name the attacks (of attacks) to evaluate the released models under"
        )
    for i, a in enumerate(rel["attacks"]):
        if a not in known:
            raise ConfigError(
                f"config: released.attacks.{i}: attack '{a}' is not declared under attacks or robustness.attacks"
            )


def released_absent(config: dict, base_dir=".") -> dict[str, str]:
    """The released models whose file the user has not supplied: name -> the note that says so
    (such a model is left out, not an error, like an optional dataset's absent files)."""
    from pathlib import Path

    out = {}
    for name, r in ((config.get("released") or {}).get("models") or {}).items():
        path = Path(base_dir) / r["file"]
        if not path.is_file():
            source = f" ({r['source']})" if r.get("source") else ""
            out[name] = (
                f"released model {name} left out: {r['file']} not found (from {Path(base_dir).resolve()}); "
                f"put its released file there{source}"
            )
    return out
