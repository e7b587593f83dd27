"""The defenses as losses, label smoothing, and the e2SAD second-step ambiguity."""

import pytest
import torch

from e2sad.defenses import DEFENSES, e2sad_loss, second_step_grad, smooth_labels
from e2sad.models import TableA1CNN

E2SAD = dict(alpha=0.2, lam=0.1, eps1=0.3, eps2=0.1)


def test_label_smoothing_075():
    t = smooth_labels(torch.tensor([3, 0]), 0.75)
    assert t.shape == (2, 10)
    assert torch.allclose(t.sum(1), torch.ones(2))
    assert float(t[0, 3]) == 0.75 and abs(float(t[0, 0]) - 0.25 / 9) < 1e-7
    assert torch.equal(smooth_labels(torch.tensor([1]), None), torch.tensor([1]))


@pytest.mark.parametrize("name", list(DEFENSES))
def test_every_defense_gives_parameter_gradients(name, mnist):
    torch.manual_seed(0)
    model = TableA1CNN()
    x, y = mnist["x_train"][:16], smooth_labels(mnist["y_train"][:16], 0.75)
    hp = {
        "natural": {},
        "fgsm_at": dict(alpha=0.5, eps=0.3),
        "ifgsm_at": dict(alpha=0.5, eps=0.3, k=3),
        "e2sad": dict(E2SAD, second_step="entropy"),
        "hamm": dict(alpha=0.5, eps=0.3),
        "fgsm_rs": dict(eps=0.3, alpha=0.375),
        "pgd_at": dict(eps=0.3, k=3, step=0.1),
        "trades": dict(beta=1.0, eps=0.3, k=3, step=0.1),
    }[name]
    step = DEFENSES[name].fn(model, x, y, **hp)
    assert step.loss.dim() == 0 and torch.isfinite(step.loss)
    params = list(model.parameters())
    step.loss.backward(inputs=params)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    assert all(float(p.grad.abs().sum()) > 0 for p in params)


def _second_step(model, x, y, variant):
    xx = x.clone().requires_grad_(True)
    logits = model(xx)
    g1 = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), xx, retain_graph=True)[0]
    x_adv = (x + 0.3 * g1.sign()).clamp(0, 1).requires_grad_(True)
    logits_adv = model(x_adv)
    gen = torch.Generator().manual_seed(0)
    return g1, second_step_grad(model, x_adv, logits_adv, logits, variant, generator=gen)


def test_literal_second_step_gradient_is_rounding_noise(natural_model, mnist):
    """Eq. 3.2 read literally: grad of CE(f(x_adv) fixed, f(x2)) at x2 = x_adv is exactly 0 in
    exact arithmetic; numerically it must be below 1e-6 of the entropy reading's gradient."""
    x, y = mnist["x_test"][:128], mnist["y_test"][:128]
    _, g_lit = _second_step(natural_model, x, y, "literal")
    _, g_ent = _second_step(natural_model, x, y, "entropy")
    _, g_cln = _second_step(natural_model, x, y, "clean_target")
    _, g_rnd = _second_step(natural_model, x, y, "random_start")
    lit, ent = float(g_lit.abs().mean()), float(g_ent.abs().mean())
    assert ent > 0
    assert lit < 1e-6 * ent, (lit, ent)
    assert float(g_cln.abs().mean()) > 1e3 * lit
    assert float(g_rnd.abs().mean()) > 1e3 * lit


def test_e2sad_second_point_respects_clip_setting(mnist):
    """clip_second='range' keeps [0,1] but may leave the eps1-ball (the paper does not clamp it)."""
    torch.manual_seed(0)
    model = TableA1CNN()
    x, y = mnist["x_train"][:32], mnist["y_train"][:32]
    captured = {}
    orig = model.forward

    def spy(inp):
        captured.setdefault("inputs", []).append(inp.detach().clone())
        return orig(inp)

    model.forward = spy
    e2sad_loss(model, x, y, **E2SAD, second_step="entropy", clip_second="range")
    x2 = captured["inputs"][-1]
    assert float(x2.min()) >= 0 and float(x2.max()) <= 1
    assert float((x2 - x).abs().max()) > 0.3 + 1e-3  # beyond the eps1 ball somewhere
    captured.clear()
    e2sad_loss(model, x, y, **E2SAD, second_step="entropy", clip_second="ball")
    assert float((captured["inputs"][-1] - x).abs().max()) <= 0.3 + 1e-6


def test_e2sad_reuses_forwards(mnist):
    """3 forwards for the literal/entropy/clean_target readings, 4 for random_start."""
    model = TableA1CNN()
    calls = []
    orig = model.forward
    model.forward = lambda inp: (calls.append(1), orig(inp))[1]
    x, y = mnist["x_train"][:8], mnist["y_train"][:8]
    for variant, n in (("literal", 3), ("entropy", 3), ("clean_target", 3), ("random_start", 4)):
        calls.clear()
        e2sad_loss(model, x, y, **E2SAD, second_step=variant, generator=torch.Generator().manual_seed(0))
        assert len(calls) == n, variant


@pytest.mark.parametrize("labels", ["hard", "smoothed"])
@pytest.mark.parametrize("merge_clean", [False, True])
def test_e2sad_without_the_dissimilarity_is_fgsm_training_at_eps1(mnist, labels, merge_clean):
    """Eq. 3.3 with lam = 0 is eq. 2.6 with FGSM at eps1: alpha J(x) + (1 - alpha) J(x_adv), the
    same loss and the same parameter gradients as ``fgsm_at`` (eps = eps1, the same alpha), to
    float rounding.  By construction e2SAD runs one forward more and its second step (eq. 3.2),
    which lam = 0 leaves out of the loss; with lam > 0 the loss grows by exactly lam times the
    dissimilarity term, a cross entropy of two softmax outputs (so > 0)."""
    from e2sad.defenses import fgsm_at

    torch.manual_seed(0)
    model = TableA1CNN()
    x, y = mnist["x_train"][:32], mnist["y_train"][:32]
    if labels == "smoothed":
        y = smooth_labels(y, 0.75)
    params = list(model.parameters())

    def loss_and_grads(fn, **hp):
        step = fn(model, x, y, merge_clean=merge_clean, **hp)
        return step, torch.autograd.grad(step.loss, params)

    alpha, eps1, eps2 = 0.2, 0.3, 0.1
    ref, ref_grads = loss_and_grads(fgsm_at, alpha=alpha, eps=eps1)
    e2, e2_grads = loss_and_grads(e2sad_loss, alpha=alpha, lam=0.0, eps1=eps1, eps2=eps2, second_step="entropy")
    assert torch.allclose(e2.loss, ref.loss, rtol=1e-6, atol=0), (float(e2.loss), float(ref.loss))
    assert torch.allclose(e2.terms["clean"], ref.terms["clean"]) and torch.allclose(e2.terms["adv"], ref.terms["adv"])
    for g_e2, g_ref in zip(e2_grads, ref_grads):
        assert torch.allclose(g_e2, g_ref, rtol=1e-5, atol=1e-7)
    # the weights of the two cross entropies are alpha and 1 - alpha, not the other way round
    assert float(ref.terms["clean"]) != pytest.approx(float(ref.terms["adv"]), rel=1e-3)

    lam = 0.5
    with_d = e2sad_loss(model, x, y, alpha=alpha, lam=lam, eps1=eps1, eps2=eps2, merge_clean=merge_clean)
    assert float(with_d.terms["dissim"]) > 0
    assert float(with_d.loss.detach() - e2.loss.detach()) == pytest.approx(
        lam * float(with_d.terms["dissim"]), rel=1e-5
    )
