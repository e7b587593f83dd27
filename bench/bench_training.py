"""Training-step cost of every defense on the MNIST CNN (Table A.1), against its pass-count floor.

One run, everything interleaved: each repetition times, round-robin (the order
rotated from one repetition to the next), the single passes

    F      forward that keeps its graph (input and parameters require grad), incl. the loss
    B_in   backward for the input gradient only (autograd.grad(J, x, retain_graph=True))
    B_w    backward for the parameter gradients only (J.backward(inputs=params))
    B_xw   one backward giving both (autograd.grad(J, [x, *params])): the "merge" pass
    B_in^c B_in with create_graph=True (Hamm's input gradient, differentiable)
    DB     the parameter backward of the Hamm penalty alone through its double-backward graph
    DB_w   Hamm's actual adversarial backward: J(x_adv) + penalty w.r.t. the parameters
    opt    one Adam step (the trainer's default optimizer)

and one full training step per defense, done exactly as e2sad.train does it
(``with precision: step = defense(...)``; ``zero_grad``; ``step.loss.backward(inputs=params)``;
``opt.step()``).  Medians over the repetitions; each step is compared with
natural and with its floor, the sum of the pass medians it cannot avoid:

    natural   F + B_w                                 + opt
    FGSM-AT   2F + B_in + 2B_w                        + opt
    IFGSM-AT  (k+1)F + k B_in + 2B_w                  + opt
    e2SAD     3F + 2B_in + 3B_w  (+F for random_start)  + opt
    Hamm      2F + B_in + B_in^c + B_w + DB_w         + opt

With ``--merge`` (default on) FGSM-AT and e2SAD also run with the clean
term's backward merged into the first attack step's input gradient (one B_xw
instead of B_in + B_w; the ``merge_clean=True`` flag of e2sad.defenses), whose
floors replace B_in + B_w by B_xw.  ``--compare-bf16`` adds natural and e2SAD
steps under the other precision, in the same round-robin.

Example (the README's figures):  python bench/bench_training.py --reps 9 --compare-bf16
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PEAK, _FlopCount, batch, machine, make_clock, med, setup, spread, table, time_peak  # noqa: E402

from e2sad import defenses as D  # noqa: E402
from e2sad.attacks import fgsm, loss_fn  # noqa: E402
from e2sad.models import FirstConv2d, TableA1CNN  # noqa: E402
from e2sad.train import precision_context  # noqa: E402

E2 = dict(alpha=0.2, lam=0.1, eps1=0.3, eps2=0.1, clip_second="range")
HAMM = dict(alpha=0.5, eps=0.3, norm="l1")


def floor(name: str, hp: dict) -> dict:
    """The defense's declared pass counts (e2sad.defenses): its floor."""
    return dict(D.DEFENSES[name].extra["passes"](hp))


def configs(ks: list[int], merge: bool) -> list[tuple[str, object, dict, dict]]:
    """(label, defense function, hyperparameters, floor as pass counts)."""
    fgsm_hp = dict(alpha=0.5, eps=0.3)
    out = [
        ("natural", D.natural, {}, floor("natural", {})),
        ("fgsm_at", D.fgsm_at, fgsm_hp, floor("fgsm_at", fgsm_hp)),
    ]
    if merge:
        hp = dict(alpha=0.5, eps=0.3, merge_clean=True)
        out.append(("fgsm_at merged", D.fgsm_at, hp, {"F": 2, "B_xw": 1, "B_w": 1}))
    for k in ks:
        hp = dict(alpha=0.5, eps=0.3, k=k)
        out.append((f"ifgsm_at k={k}", D.ifgsm_at, hp, floor("ifgsm_at", hp)))
    for v in D.SECOND_STEP_VARIANTS:
        # random_start: its second-step gradient is a new F + B_in at x_adv + noise, instead of the
        # B_in through the kept adversarial forward: +1 F in all (not +F +B_in)
        hp = dict(E2, second_step=v)
        out.append((f"e2sad {v}", D.e2sad_loss, hp, floor("e2sad", hp)))
    if merge:
        out.append(
            (
                "e2sad entropy merged",
                D.e2sad_loss,
                dict(E2, second_step="entropy", merge_clean=True),
                {"F": 3, "B_xw": 1, "B_in": 1, "B_w": 2},
            )
        )
    out.append(("hamm l1", D.hamm_minimax, HAMM, floor("hamm", HAMM)))
    # the fast adversarial training that followed e2SAD (MNIST recipes of their papers)
    rs = dict(eps=0.3, alpha=0.375)
    out.append(("fgsm_rs", D.fgsm_rs, rs, floor("fgsm_rs", rs)))
    for k in ks:
        pgd = dict(eps=0.3, k=k, step=0.01)
        out.append((f"pgd_at k={k}", D.pgd_at, pgd, floor("pgd_at", pgd)))
        tr = dict(beta=1.0, eps=0.3, k=k, step=0.01)
        out.append((f"trades k={k}", D.trades, tr, floor("trades", tr)))
    for c in out:
        c[3]["opt"] = 1
    return out


PASSES = {
    "F": "F  forward kept for backward",
    "B_in": "B_in  input grad only",
    "B_w": "B_w  param grads only",
    "B_xw": "B_xw  input + param grads, one pass",
    "B_inc": "B_in^c  input grad, create_graph",
    "DB": "DB  penalty-only double backward",
    "DB_w": "DB_w  J(x_adv)+penalty param backward",
    "opt": "opt  Adam step",
    "zero_grad": "zero_grad",
}


def time_passes(model, params, opt, x, y, ctx, clock, T):
    """One repetition of every single pass; appends seconds to T[name]."""
    n = x.shape[0]
    xx = x.detach().requires_grad_(True)
    t0 = clock()
    with ctx:
        loss = loss_fn(model(xx), y)
    t1 = clock()
    g = torch.autograd.grad(loss, xx, retain_graph=True)[0]
    t2 = clock()
    opt.zero_grad(set_to_none=True)
    t3 = clock()
    loss.backward(inputs=params)
    t4 = clock()
    opt.step()
    t5 = clock()
    T["F"].append(t1 - t0)
    T["B_in"].append(t2 - t1)
    T["zero_grad"].append(t3 - t2)
    T["B_w"].append(t4 - t3)
    T["opt"].append(t5 - t4)
    del loss

    # merged: input and parameter gradients of J in one backward
    with ctx:
        loss = loss_fn(model(xx), y)
    t0 = clock()
    torch.autograd.grad(loss, [xx, *params])
    T["B_xw"].append(clock() - t0)
    del loss

    # Hamm: differentiable input gradient at x_adv, then the double backward
    eps = HAMM["eps"]
    for combined in (True, False):
        xa = fgsm(model, x, y, eps=eps, grad=g).requires_grad_(True)
        with ctx:
            la = loss_fn(model(xa), y)
        t0 = clock()
        ga = torch.autograd.grad(la, xa, create_graph=True)[0] * n
        t1 = clock()
        pen = 0.5 * eps * ga.flatten(1).norm(p=1, dim=1).mean()
        opt.zero_grad(set_to_none=True)
        t2 = clock()
        (la + pen if combined else pen).backward(inputs=params)
        t3 = clock()
        T["B_inc"].append(t1 - t0)
        T["DB_w" if combined else "DB"].append(t3 - t2)
    opt.zero_grad(set_to_none=True)


def flops_of(fn, *args) -> float:
    """FLOPs (matmuls and convolutions, forward and backward) of one call, exactly."""
    with _FlopCount() as c:
        fn(*args)
    return float(c.total)


def time_step(fn, hp, model, params, opt, x, y, ctx, clock, rep):
    """One training step exactly as e2sad.train.train does it; returns seconds."""
    t0 = clock()
    gen = None
    if hp.get("second_step") == "random_start":
        gen = torch.Generator(device=x.device).manual_seed(7919 * rep + 1)
    with ctx:
        out = fn(model, x, y, generator=gen, **hp)
    opt.zero_grad(set_to_none=True)
    out.loss.backward(inputs=params)
    opt.step()
    float(out.loss.detach())
    return clock() - t0


def roofline(P, T, model, params, opt, x, y, ctx, cfgs, S) -> None:
    """Achieved GFLOP/s of every pass and step, and its fraction of the peak measured in the same
    run (the best of the sgemm and the largest convolution's forward and backward)."""
    with _FlopCount() as c:
        fl: dict[str, list[float]] = {k: [] for k in T}
        time_passes(model, params, opt, x, y, ctx, lambda: float(c.total), fl)
        time_peak(model, x, lambda: float(c.total), fl)
    work = {k: v[0] for k, v in fl.items() if v}
    rate = {k: work[k] / P[k] for k in PEAK}
    peak = max(rate.values())
    print(f"\nRoofline (GFLOP/s measured in this run; peak = {peak * 1e-9:.1f} GFLOP/s, the best of):")
    print(
        table(
            [[PEAK[k], f"{work[k] * 1e-9:.2f}", f"{rate[k] * 1e-9:.1f}"] for k in PEAK], ["peak op", "GFLOP", "GFLOP/s"]
        )
    )
    rows = []
    for k in ("F", "B_in", "B_w", "B_xw"):
        rows.append(
            [PASSES[k], f"{work[k] * 1e-9:.2f}", f"{work[k] / P[k] * 1e-9:.1f}", f"{work[k] / P[k] / peak:.0%}"]
        )
    for name, fn, hp, _floor in cfgs:
        if S.get(name):
            w = flops_of(time_step, fn, hp, model, params, opt, x, y, ctx, time.perf_counter, 0)
            rows.append(
                [f"step: {name}", f"{w * 1e-9:.2f}", f"{w / med(S[name]) * 1e-9:.1f}", f"{w / med(S[name]) / peak:.0%}"]
            )
    print(table(rows, ["pass / step", "GFLOP", "GFLOP/s", "of peak"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (medians are reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu", "flops"],
        default="wall",
        help="cpu: process CPU time (use with --threads 1); flops: count matmul/conv FLOPs (no timing)",
    )
    ap.add_argument("--ks", default="10,30", help="IFGSM-AT steps, comma separated")
    ap.add_argument("--no-merge", dest="merge", action="store_false", help="skip the merge experiment")
    ap.add_argument("--compare-bf16", action="store_true", help="also natural and e2SAD under the other precision")
    ap.add_argument("--only", default=None, help="comma-separated step labels to run (e.g. 'natural,e2sad entropy')")
    ap.add_argument("--no-passes", dest="passes", action="store_false", help="skip the pass timings (no floors)")
    ap.add_argument("--channels-last", action="store_true", help="model in channels_last memory format")
    ap.add_argument(
        "--plain-conv1",
        action="store_true",
        help="conv1's input gradient by oneDNN (before 2026-11-26) instead of FirstConv2d's GEMM + shifted adds",
    )
    ap.add_argument("--data", default=None, help="prepared MNIST .pt (default: uniform noise; timing is the same)")
    a = ap.parse_args(argv)

    dev = setup(a.device, a.threads)
    if a.clock == "flops":
        a.reps, a.warmup = 1, 0
    clock = make_clock(dev, a.clock)
    unit, scale = ("GFLOP", 1e-9) if a.clock == "flops" else ("ms", 1e3)
    other = "bf16" if a.precision == "fp32" else "fp32"
    ctxs = {"fp32": precision_context("fp32", dev), "bf16": precision_context("bf16", dev)}
    FirstConv2d.fast_input_grad = not a.plain_conv1
    model = TableA1CNN().to(dev)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = batch(a.batch_size, dev, a.data)
    ks = [int(k) for k in a.ks.split(",") if k]

    cfgs = configs(ks, a.merge)
    only = {o.strip() for o in a.only.split(",")} if a.only else None
    if only:
        cfgs = [c for c in cfgs if c[0] in only]
    jobs = [("passes", None, None, a.precision)] if a.passes else []
    jobs += [(c[0], c[1], c[2], a.precision) for c in cfgs]
    if a.compare_bf16:
        both = (("natural", D.natural, {}), ("e2sad entropy", D.e2sad_loss, dict(E2, second_step="entropy")))
        for label, fn, hp in both:
            if only is None or label in only:
                jobs.append((f"{label} [{other}]", fn, hp, other))
    T: dict[str, list[float]] = {k: [] for k in [*PASSES, *PEAK]}
    S: dict[str, list[float]] = {j[0]: [] for j in jobs if j[0] != "passes"}
    print(
        f"# {machine(dev)}; clock {a.clock}; batch {a.batch_size}; precision {a.precision}; "
        f"channels_last {a.channels_last}; plain conv1 {a.plain_conv1}; reps {a.reps} (+{a.warmup} warmup)"
    )
    for rep in range(a.warmup + a.reps):
        timed = rep >= a.warmup
        rot = rep % len(jobs)
        for name, fn, hp, prec in jobs[rot:] + jobs[:rot]:
            if name == "passes":
                sink = T if timed else {k: [] for k in T}
                time_passes(model, params, opt, x, y, ctxs[prec], clock, sink)
                if a.clock != "flops":
                    time_peak(model, x, clock, sink)
            else:
                dt = time_step(fn, hp, model, params, opt, x, y, ctxs[prec], clock, rep)
                if timed:
                    S[name].append(dt)
        print(f"# rep {rep + 1}/{a.warmup + a.reps} done", file=sys.stderr, flush=True)

    P = {k: med(v) for k, v in T.items()}
    R = range(a.reps)

    def paired(num: list[float], den: list[float]) -> float:
        """Median over repetitions of num/den, both from the same repetition (cancels slow load drift)."""
        return med([num[r] / den[r] for r in R]) if len(num) == len(den) == a.reps else float("nan")

    def floor_of(floor: dict, r: int | None = None) -> float:
        return sum(n * (P[p] if r is None else T[p][r]) for p, n in floor.items())

    if a.passes:
        f = P["F"]
        print(f"\nPasses (median {unit}, ratio to F, IQR/median):")
        rows = [[PASSES[k], f"{scale * P[k]:.1f}", f"{P[k] / f:.2f}", spread(T[k])] for k in PASSES]
        print(table(rows, ["pass", unit, "/F", "IQR"]))
        if a.clock != "flops":
            roofline(P, T, model, params, opt, x, y, ctxs[a.precision], cfgs, S)

    nat = S.get("natural", [])
    rows = []
    for name, _fn, _hp, floor in cfgs:
        s, fl = med(S[name]), floor_of(floor) if a.passes else float("nan")
        pf = paired(S[name], [floor_of(floor, r) for r in R]) if a.passes else float("nan")
        desc = " + ".join(f"{n}{p}" if n != 1 else p for p, n in floor.items())
        rows.append([name, f"{scale * s:.1f}", f"{s / med(nat):.2f}", f"{paired(S[name], nat):.2f}"])
        rows[-1] += [f"{scale * fl:.1f}", f"{s / fl:.3f}", f"{pf:.3f}", spread(S[name]), desc]
    print(
        f"\nTraining steps ({a.precision}; median {unit}; ratio to natural and to the floor built from the passes; "
        "'paired': median over repetitions of the ratio within one repetition):"
    )
    head = ["defense", f"step {unit}", "x natural", "paired", f"floor {unit}", "x floor", "paired", "IQR", "floor"]
    print(table(rows, head))
    if a.merge and {"fgsm_at", "fgsm_at merged", "e2sad entropy", "e2sad entropy merged"} <= set(S):
        print("\nMerge experiment (merged step / unmerged step, same run; medians, then paired):")
        for base in ("fgsm_at", "e2sad entropy"):
            m, u = S[f"{base} merged"], S[base]
            print(f"  {base:14s}: {med(m) / med(u):.3f}  paired {paired(m, u):.3f}")
        if a.passes:
            print(f"  passes: B_xw / (B_in + B_w) = {P['B_xw'] / (P['B_in'] + P['B_w']):.3f}")
    if a.compare_bf16:
        print("\nPrecision (step bf16 / step fp32, same run):")
        for base in ("natural", "e2sad entropy"):
            if f"{base} [{other}]" not in S or base not in S:
                continue
            t = {a.precision: S[base], other: S[f"{base} [{other}]"]}
            print(
                f"  {base:14s}: fp32 {scale * med(t['fp32']):.1f} {unit}, bf16 {scale * med(t['bf16']):.1f} {unit}, "
                f"bf16/fp32 = {med(t['bf16']) / med(t['fp32']):.2f}  paired {paired(t['bf16'], t['fp32']):.2f}"
            )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
