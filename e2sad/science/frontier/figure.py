"""The frontier's figures: robust accuracy against training cost (:func:`plot_frontier`) and
accuracy against training step (:func:`plot_snapshots`), with one axis finish (:func:`_finish`)."""

from __future__ import annotations

import math
import textwrap

import pandas as pd

from .table import seed_values


def _pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    # matplotlib is imported here, not at the top: it is heavy and only the figure rules need it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_frontier(df: pd.DataFrame, spec: dict, outputs: list[str], released: list[dict] | None = None) -> None:
    """Robust (AutoAttack) accuracy against training FLOPs (in TFLOP, log x): per defense one line through
    its equal-cost budgets (open squares), its equal-iterations model (filled circle) and own
    recipe (diamond), 95 % intervals as error bars, e2SAD drawn larger, every seed a small dot
    beside them (a red cross: a seed that did not train, left out of the mean); each published result
    a black star at its own training cost, labelled with its attack (the paper's e2SAD point is
    its IFGSM-30 accuracy, not AutoAttack); each released model measured here (``released``,
    :func:`e2sad.science.released.released_frontier_points`) a white pentagon at its recipe's cost."""
    plt = _pyplot()
    robust = spec["robust"]
    labels = spec.get("attack_labels", {})
    # each released model's three legend lines: the figure taller by them, so the legend fits
    fig, ax = plt.subplots(figsize=(6.4, 4.4 + 0.3 * len(released or [])))
    measured = df[df["protocol"] != "published"]
    defenses = list(dict.fromkeys(measured["defense"]))
    colours = {d: plt.cm.tab10(i % 10) for i, d in enumerate(defenses)}
    for i, d in enumerate(defenses):
        sel = measured[measured["defense"] == d]
        c, big = colours[d], d == "e2sad"
        column = sel["column"].iloc[0]
        # equal-cost points share their budget's cost: spread the defenses by a few percent in x
        spread = 1.06 ** (i - (len(defenses) - 1) / 2)
        for protocol, marker in (("equal_cost", "s"), ("equal_iterations", "o"), ("own_recipe", "D")):
            pts = sel[sel["protocol"] == protocol].drop_duplicates("trained_as").sort_values("train_flops")
            if pts.empty:
                continue
            acc = pts[f"acc[{robust}]"]
            err = [(acc - pts[f"lo[{robust}]"]).clip(lower=0), (pts[f"hi[{robust}]"] - acc).clip(lower=0)]
            ax.errorbar(
                pts["train_flops"] / 1e12 * (spread if protocol == "equal_cost" else 1),
                acc,
                yerr=err,
                fmt=marker + ("-" if protocol == "equal_cost" and len(pts) > 1 else ""),
                ms=10 if big else 6,
                mfc="white" if protocol == "equal_cost" else c,
                mec=c,
                mew=2.5 if big else 1.5,
                color=c,
                lw=2.5 if big else 1.2,
                capsize=3,
                zorder=4 if big else 3,
                label=f"{column} ({protocol.replace('_', ' ')})",
            )
            _seed_points(ax, pts, robust, c, spread if protocol == "equal_cost" else 1)
    all_tflop = [t / 1e12 for t in [*measured["train_flops"], *(p["train_flops"] for p in spec.get("published", []))]]
    tags = []  # (text, x, y, offsets to try): the published and released points' short tags
    for p in spec.get("published", []):
        attack = robust if robust in p["accuracies"] else spec.get("reference")
        value = p["accuracies"].get(attack)
        if value is None:
            continue
        note = "" if attack == robust else f",\nnot {labels.get(robust, robust)}"
        ax.plot(
            [p["train_flops"] / 1e12],
            [value],
            marker="*",
            ms=15,
            color="black",
            ls="none",
            zorder=5,
            label=f"{p['label']}, published\n({labels.get(attack, attack)} {value:.4f}{note})",
        )
        # a short tag beside the star (the full label is in the legend), first tried towards the
        # wider side of the log-x axis; _place_tags moves it where it covers no other tag or point
        lo, hi = math.log(min(all_tflop)), math.log(max(all_tflop))
        right = math.log(p["train_flops"] / 1e12) < (lo + hi) / 2
        tag = p["label"].split(",")[0] + ("" if attack == robust else f" ({labels.get(attack, attack)})")
        tags.append((tag, p["train_flops"] / 1e12, value, TAG_SPOTS if right else TAG_SPOTS[1:] + TAG_SPOTS[:1]))
    tags += _released_points(ax, released or [], spec)
    # the seeds' markers once in the legend (drawn beside every point by _seed_points)
    ax.plot([], [], marker=".", ms=5, color="grey", ls="none", label="a seed")
    ax.plot([], [], marker="x", ms=7, color="red", ls="none", label="a seed that did not train")
    _finish(
        fig,
        ax,
        spec,
        "training FLOPs (TFLOP = 10^12 FLOPs, log scale)",
        f"accuracy under {labels.get(robust, robust)} (95 % interval)",
        outputs,
        tags,
    )


def _released_points(ax, released: list[dict], spec: dict) -> list[tuple]:
    """Each released model another author trained (:func:`e2sad.science.released.released_frontier_points`:
    its measured accuracy under the robust attack with its Wilson interval) at its recipe's training
    FLOPs: a black-edged white pentagon (then hexagon, octagon); returns their tags ("released")."""
    labels = spec.get("attack_labels", {})
    robust = labels.get(spec["robust"], spec["robust"])
    tags = []
    for i, p in enumerate(released):
        x = p["train_flops"] / 1e12
        ax.errorbar(
            [x],
            [p["accuracy"]],
            yerr=[[max(0.0, p["accuracy"] - p["lo"])], [max(0.0, p["hi"] - p["accuracy"])]],
            fmt="ph8"[i % 3],
            ms=10,
            mfc="white",
            mec="black",
            mew=1.8,
            color="black",
            capsize=3,
            zorder=5,
            label="\n".join(textwrap.wrap(f"{p['label']}, released", 48))
            + f"\n(measured here: {robust} {p['accuracy']:.4f}, n = {p['n']:,})",
        )
        tags.append(("released", x, p["accuracy"], TAG_SPOTS[5:] + TAG_SPOTS[:5]))
    return tags


def _seed_points(ax, pts: pd.DataFrame, robust: str, colour, spread: float) -> None:
    """Every seed's accuracy beside the mean: a small dot per seed that trained, a red cross per
    seed that did not (it enters no mean: a stuck seed is visible, never averaged in)."""
    for _, r in pts.iterrows():
        x = r["train_flops"] / 1e12 * spread
        for _, value, trained in seed_values(r.get(f"per_seed[{robust}]")):
            ax.plot(
                [x],
                [value],
                marker="." if trained else "x",
                ms=5 if trained else 7,
                color=colour if trained else "red",
                ls="none",
                alpha=0.7,
                zorder=2,
            )


def plot_snapshots(frame: pd.DataFrame, flags: pd.DataFrame, spec: dict, outputs: list[str]) -> None:
    """Accuracy against training step (log x): one colour per model, one line style per attack
    (solid: iterative, dashed: single-step); catastrophic overfitting marked with a red cross."""
    plt = _pyplot()
    labels = spec.get("attack_labels", {})
    info = spec.get("model_info", {})
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    models = list(dict.fromkeys(frame["model"]))
    for i, m in enumerate(models):
        for a in spec["attacks"]:
            sel = frame[(frame["model"] == m) & (frame["attack_name"] == a)]
            style = "--" if a == spec.get("single_step") else "-"
            name = f"{info.get(m, {}).get('column', m)}, {labels.get(a, a)}"
            ax.plot(sel["step"], sel["accuracy"], style, marker="o", ms=3, color=plt.cm.tab10(i % 10), label=name)
    for r in flags.itertuples():
        sel = frame[
            (frame["model"] == r.model) & (frame["attack_name"] == spec["iterative"]) & (frame["step"] == r.step)
        ]
        ax.plot(sel["step"], sel["accuracy"], "x", color="red", ms=12, mew=3)
    if len(flags):
        ax.plot([], [], "x", color="red", ms=10, mew=3, label="catastrophic overfitting\n(a seed flagged at that step)")
    _finish(fig, ax, spec, "training step (log scale)", "accuracy", outputs)


def _finish(fig, ax, spec: dict, xlabel: str, ylabel: str, outputs: list[str], tags=()) -> None:
    """Log x, accuracy y in [0, 1], the title with the scale note wrapped, the legend outside, saved at 300 dpi."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # heavy: see _pyplot

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5) if hi / lo < 1e3 else (1,)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # no crowded labels between the decades
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    title = spec["title"]
    if spec.get("note"):
        title += "\n" + "\n".join(textwrap.wrap(f"[{spec['note']}]", 90))
    ax.set_title(title, fontsize=9, loc="left")  # from the axes' left edge: clear of the y label
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    _place_tags(fig, ax, tags)
    for o in outputs:
        fig.savefig(o, dpi=300, bbox_inches="tight")
    plt.close(fig)


#: where a point's short tag may sit, in offset points from the point, with its alignment: right
#: above, left above, left below, right below, centred above, centred below
TAG_SPOTS = (
    ((8, 4), "left", "bottom"),
    ((-8, 4), "right", "bottom"),
    ((-10, -6), "right", "top"),
    ((10, -6), "left", "top"),
    ((0, 10), "center", "bottom"),
    ((0, -12), "center", "top"),
)


def _place_tags(fig, ax, tags) -> None:
    """Each tag at the first of its spots (a long tag in two lines first) whose box, once the layout
    is final, stays inside the axes, overlaps neither a tag placed before it nor another tagged
    point's marker (a square of 16 points around it) and is nearer its own point than any other
    tagged point is, by 2 points (so that it reads as that point's); where none does, at the spot that stays inside
    vertically, overlaps least, is nearer fewest other points and reaches least past the sides.
    A tag that reaches past the left or right side widens the x axis until it fits (every tag is
    then placed again: at most three times)."""
    for attempt in range(3):
        placed = _tag_spots(fig, ax, tags)
        lo, hi = _widened(ax, [(box, tags[i][1]) for i, (_, box) in enumerate(placed)])
        if (lo, hi) == ax.get_xlim() or attempt == 2:
            return
        for tag, _ in placed:
            tag.remove()
        ax.set_xlim(lo, hi)


def _tag_spots(fig, ax, tags) -> list[tuple]:
    """(annotation, box) of each tag at its best spot (:func:`_place_tags`)."""
    renderer = fig.canvas.get_renderer()
    pad = 8 * fig.dpi / 72
    near = 2 * fig.dpi / 72  # two points nearer: two points closer than that read as one place
    frame = ax.get_window_extent(renderer).extents  # (x0, y0, x1, y1) in pixels, as every box here
    centres = [tuple(ax.transData.transform((x, y))) for _, x, y, _ in tags]
    markers = [(cx - pad, cy - pad, cx + pad, cy + pad) for cx, cy in centres]
    placed = []
    for i, (text, x, y, spots) in enumerate(tags):
        others = [b for _, b in placed] + markers[:i] + markers[i + 1 :]
        wrapped = "\n".join(textwrap.wrap(text, max(8, len(text) // 2 + 1)))
        best = None  # (above or below, overlap, nearer others, past the sides, tag, box) so far
        for t in dict.fromkeys([wrapped, text] if len(text) > 16 else [text, wrapped]):
            for offset, ha, va in spots:
                tag = ax.annotate(
                    t,
                    (x, y),
                    textcoords="offset points",
                    xytext=offset,
                    ha=ha,
                    va=va,
                    fontsize=6 if text == "released" else 7,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                    zorder=6,
                )
                box = tuple(tag.get_window_extent(renderer).extents)
                own = _distance(box, centres[i])
                here = (
                    not (frame[1] <= box[1] and box[3] <= frame[3]),
                    sum(_overlap(box, b) for b in others),
                    sum(_distance(box, c) < own - near for j, c in enumerate(centres) if j != i),
                    max(0.0, frame[0] - box[0]) + max(0.0, box[2] - frame[2]),
                    tag,
                    box,
                )
                if best is None or here[:4] < best[:4]:
                    if best is not None:
                        best[4].remove()
                    best = here
                else:
                    tag.remove()
                if best[:4] == (False, 0, 0, 0):
                    break
            if best[:4] == (False, 0, 0, 0):
                break
        placed.append(best[4:])
    return placed


def _widened(ax, boxes) -> tuple[float, float]:
    """The x limits (data) at which every tag box (pixels; with its point's x) that reaches past a
    side of the axes fits inside, its distance from its point kept (on the axis' own scale, log or
    linear); the current limits where every box fits."""
    scale = ax.xaxis.get_transform()  # data -> the axis' linear coordinate (log10 on a log axis)
    lo, hi = scale.transform(ax.get_xlim())
    p0, p1 = ax.transAxes.transform([(0, 0), (1, 1)])[:, 0]
    width = p1 - p0
    new_lo, new_hi = lo, hi
    for box, x in boxes:
        u = scale.transform([x])[0]
        px = p0 + (u - lo) / (hi - lo) * width
        right, left = box[2] - px + 2, px - box[0] + 2  # the box's reach from its point (pixels, +2)
        if box[2] > p1 and right < width:  # (u - lo) / (hi' - lo) <= (width - right) / width
            new_hi = max(new_hi, lo + (u - lo) * width / (width - right))
        if box[0] < p0 and left < width:
            new_lo = min(new_lo, hi - (hi - u) * width / (width - left))
    if (new_lo, new_hi) == (lo, hi):
        return ax.get_xlim()
    return tuple(scale.inverted().transform([new_lo, new_hi]))


def _distance(box, point) -> float:
    """How far a point (x, y) lies from a box (x0, y0, x1, y1): 0 inside it."""
    dx = max(box[0] - point[0], 0.0, point[0] - box[2])
    dy = max(box[1] - point[1], 0.0, point[1] - box[3])
    return math.hypot(dx, dy)


def _overlap(a, b) -> float:
    """The area two boxes (x0, y0, x1, y1) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
