"""ProGrad against a port of the reference (BeierZhu/Prompt-align): ProGradLoss and
prograd_backward_and_update, on fixed inputs."""
import torch
import torch.nn.functional as F

from dpt.methods import MethodConfig, build_method

CLASSES = ["red balloon", "blue balloon", "green balloon", "lime balloon"]


def reference_prograd(model, image_features, labels, lambda_=1.0, T=1.0):
    """The reference, ported: ProGradLoss (trainers/prograd.py) and the projection of
    Dassl.ProGrad.pytorch/dassl/engine/trainer.py, over the prompt learner's parameters."""
    stu_logits = model.logits(image_features)
    tea_logits = model.logit_scale * image_features @ model.hand.T  # zero-shot CLIP with the template
    xe_loss = F.cross_entropy(stu_logits, labels)
    tea_prob = F.softmax(tea_logits / T, dim=-1)
    kl_loss = (-tea_prob * F.log_softmax(stu_logits / T, -1) * T * T).sum(1).mean()
    params = list(model.prompt_learner.parameters())
    for p in params:
        p.grad = None
    kl_loss.backward(retain_graph=True)
    b_grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    xe_loss.backward()
    for p, b_grad in zip(params, b_grads):
        b_grad_norm = b_grad / torch.linalg.norm(b_grad)
        a_grad = p.grad.clone()
        a_grad_norm = a_grad / torch.linalg.norm(a_grad)
        if torch.dot(a_grad_norm.flatten(), b_grad_norm.flatten()) < 0:
            p.grad = a_grad - lambda_ * torch.dot(a_grad.flatten(), b_grad_norm.flatten()) * b_grad_norm
    return xe_loss.detach(), kl_loss.detach(), [p.grad.clone() for p in params]


def _inputs(bb, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(16, bb.embed_dim, generator=g), dim=-1), torch.arange(16) % len(CLASSES)


def test_prograd_loss_and_projected_gradient_match_the_reference(miniclip):
    projected = 0
    for seed in range(6):
        x, y = _inputs(miniclip, seed)
        torch.manual_seed(seed)
        ours = build_method("prograd", miniclip, CLASSES, "a photo of a {}.", MethodConfig(ctx_init=None))
        torch.manual_seed(seed)
        ref = build_method("prograd", miniclip, CLASSES, "a photo of a {}.", MethodConfig(ctx_init=None))
        ce, kl, ref_grads = reference_prograd(ref, x, y)
        loss, terms = ours.loss(x, y)
        ours.backward(loss, terms)
        torch.testing.assert_close(loss.detach(), ce)
        torch.testing.assert_close(terms["kl"].detach(), kl)
        for p, g in zip(ours.prompt_learner.parameters(), ref_grads):
            torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-8)
        # was the projection exercised? (CE and KL gradients in conflict)
        plain = build_method("coop", miniclip, CLASSES, "a photo of a {}.", MethodConfig(ctx_init=None))
        plain.prompt_learner.ctx.data.copy_(ours.prompt_learner.ctx.data)
        torch.nn.functional.cross_entropy(plain.logits(x), y).backward()
        projected += not torch.allclose(plain.prompt_learner.ctx.grad, ours.prompt_learner.ctx.grad)
    assert projected >= 1, "no input put CE against the KL gradient: the projection was never tested"


def test_projected_gradient_never_opposes_the_zero_shot_gradient(miniclip):
    x, y = _inputs(miniclip, 0)
    for seed in range(4):
        torch.manual_seed(seed)
        m = build_method("prograd", miniclip, CLASSES, "a photo of a {}.", MethodConfig(ctx_init=None))
        loss, terms = m.loss(x, y)
        g_kl = torch.autograd.grad(terms["kl"], m.prompt_learner.ctx, retain_graph=True)[0]
        m.backward(loss, terms)
        assert torch.dot(m.prompt_learner.ctx.grad.flatten(), g_kl.flatten()) >= -1e-6
