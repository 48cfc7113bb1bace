"""Continuous-token models (chapter 6): shapes, positivity, causality, the PyTorch Mamba-2 scan."""

import math

import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from l2m_utils import history_state as hs  # noqa: E402
from l2m_utils.continuous_models import ModelSpec, build_model, load_mamba_ssm_mamba2  # noqa: E402
from l2m_utils.mamba2_torch import Mamba2Torch, segsum, ssd_chunked, ssd_sequential  # noqa: E402


def _ssd_inputs(seed, b=2, l=11, h=4, p=3, g=2, n=5):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen)
    dt = torch.rand(b, l, h, generator=gen) * 0.7
    A = -torch.rand(h, generator=gen) * 2 - 0.1
    B = torch.randn(b, l, g, n, generator=gen)
    C = torch.randn(b, l, g, n, generator=gen)
    D = torch.randn(h, generator=gen)
    return x, dt, A, B, C, D


def test_sequential_scan_matches_the_explicit_sum():
    """y_t = sum_{s<=t} (C_t . B_s) exp(A sum_{s<k<=t} dt_k) dt_s x_s + D x_t, by a double loop."""
    x, dt, A, B, C, D = _ssd_inputs(0, b=1, l=6, h=2, p=2, g=1, n=3)
    y = ssd_sequential(x, dt, A, B, C, D=D)
    ref = torch.zeros_like(y)
    for t in range(6):
        for h in range(2):
            acc = D[h] * x[0, t, h]
            for s in range(t + 1):
                decay = math.exp(float(A[h]) * float(dt[0, s + 1:t + 1, h].sum()))
                acc = acc + float(C[0, t, 0] @ B[0, s, 0]) * decay * dt[0, s, h] * x[0, s, h]
            ref[0, t, h] = acc
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 3, 4, 11, 16])
def test_chunked_scan_equals_sequential(chunk):
    x, dt, A, B, C, D = _ssd_inputs(1)
    s0 = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(9))
    y1, f1 = ssd_sequential(x, dt, A, B, C, D=D, initial_state=s0, return_final_state=True)
    y2, f2 = ssd_chunked(x, dt, A, B, C, chunk_size=chunk, D=D, initial_state=s0, return_final_state=True)
    torch.testing.assert_close(y2, y1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(f2, f1, rtol=1e-5, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(l=st.integers(1, 20), chunk=st.integers(1, 8), heads=st.sampled_from([(2, 1), (4, 2), (3, 3)]),
       seed=st.integers(0, 10_000))
def test_chunked_scan_equals_sequential_property(l, chunk, heads, seed):
    h, g = heads
    x, dt, A, B, C, D = _ssd_inputs(seed, b=1, l=l, h=h, p=2, g=g, n=3)
    torch.testing.assert_close(ssd_chunked(x, dt, A, B, C, chunk_size=chunk, D=D),
                               ssd_sequential(x, dt, A, B, C, D=D), rtol=1e-4, atol=1e-5)


def test_chunked_scan_gradients_equal_sequential():
    inputs = [t.clone().requires_grad_(True) for t in _ssd_inputs(2, l=9)]
    x, dt, A, B, C, D = inputs
    ssd_sequential(x, dt, A, B, C, D=D).square().sum().backward()
    g1 = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    ssd_chunked(x, dt, A, B, C, chunk_size=4, D=D).square().sum().backward()
    for a, b in zip(g1, [t.grad for t in inputs]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_segsum():
    a = torch.tensor([1.0, 2.0, 3.0])
    out = segsum(a)
    expected = torch.tensor([[0.0, -math.inf, -math.inf], [2.0, 0.0, -math.inf], [5.0, 3.0, 0.0]])
    torch.testing.assert_close(out, expected)


def test_mamba2_block_parameters_match_mamba_ssm_layout():
    """Names and shapes of mamba_ssm.modules.mamba2.Mamba2 (2.3.2) for d_model=32, d_state=8, headdim=16."""
    m = Mamba2Torch(32, d_state=8, headdim=16, ngroups=2)
    d_inner, nheads, conv_dim = 64, 4, 64 + 2 * 2 * 8
    expected = {
        "dt_bias": (nheads,), "A_log": (nheads,), "D": (nheads,),
        "in_proj.weight": (2 * d_inner + 2 * 2 * 8 + nheads, 32),
        "conv1d.weight": (conv_dim, 1, 4), "conv1d.bias": (conv_dim,),
        "norm.weight": (d_inner,), "out_proj.weight": (32, d_inner),
    }
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == expected
    assert m.state_per_layer() == (nheads * 16 * 8, conv_dim * 3)


def test_mamba2_block_chunked_equals_sequential_and_is_causal():
    torch.manual_seed(0)
    m = Mamba2Torch(16, d_state=4, headdim=8, chunk_size=4)
    u = torch.randn(2, 13, 16)
    y = m(u)
    m.scan = "sequential"
    torch.testing.assert_close(m(u), y, rtol=1e-5, atol=1e-5)
    m.scan = "chunked"
    u2 = u.clone()
    u2[:, 7:] = torch.randn(2, 6, 16)
    y2 = m(u2)
    torch.testing.assert_close(y2[:, :7], y[:, :7], rtol=0, atol=1e-6)
    assert not torch.allclose(y2[:, 7:], y[:, 7:])


@pytest.mark.parametrize("backbone", ["gpt2", "mamba2"])
def test_model_shapes_positive_sigma_and_trivial_start(backbone):
    model = build_model(backbone, 2, 16, d_state=4, copies=8, max_length=32, seed=0)
    tokens = torch.randn(3, 20, 8)
    mu, sigma = model(tokens)
    assert mu.shape == sigma.shape == (3, 20, 8)
    assert bool((sigma > 0).all())
    # initialised at the marginal N(0, 1): the trivial baseline
    torch.testing.assert_close(mu, torch.zeros_like(mu))
    torch.testing.assert_close(sigma, torch.ones_like(sigma))
    # after a random perturbation of the head, sigma stays above the floor
    with torch.no_grad():
        model.head[-1].weight.normal_(0, 10.0)
    mu, sigma = model(tokens)
    assert bool((sigma >= model.spec.sigma_floor).all()) and bool(torch.isfinite(mu).all())


@pytest.mark.parametrize("backbone", ["gpt2", "mamba2"])
def test_models_are_causal(backbone):
    model = build_model(backbone, 2, 16, d_state=4, copies=8, max_length=32, seed=1)
    with torch.no_grad():  # make the head non-trivial so outputs depend on the inputs
        model.head[-1].weight.normal_(0, 0.5)
    tokens = torch.randn(2, 24, 8)
    mu, sigma = model(tokens)
    changed = tokens.clone()
    changed[:, 10:] = torch.randn(2, 14, 8)
    mu2, sigma2 = model(changed)
    torch.testing.assert_close(mu2[:, :10], mu[:, :10], rtol=0, atol=1e-5)
    torch.testing.assert_close(sigma2[:, :10], sigma[:, :10], rtol=0, atol=1e-5)
    assert not torch.allclose(mu2[:, 10:], mu[:, 10:])


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("mamba2", 1, 16, d_state=4, copies=8, max_length=16, seed=5)
    after = torch.rand(1)
    b = build_model("mamba2", 1, 16, d_state=4, copies=8, max_length=16, seed=5)
    assert torch.equal(before, after)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    # no seed given: seed 0, whatever the global RNG holds (the initialisation never depends on it)
    torch.manual_seed(7)
    c = build_model("gpt2", 1, 16, n_head=2, copies=8, max_length=16)
    torch.manual_seed(8)
    d = build_model("gpt2", 1, 16, n_head=2, copies=8, max_length=16, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(c.state_dict().values(), d.state_dict().values()))


def test_history_state_matches_the_calculator():
    from transformers import GPT2Config, Mamba2Config

    g = build_model("gpt2", 3, 32, n_head=2, copies=8, max_length=64)
    assert hs.history_state(g, 32).total == hs.history_state(GPT2Config(n_layer=3, n_embd=32, n_head=2), 32).total
    assert hs.history_state(g, 32).total == 2 * 3 * 32 * 32
    assert hs.history_state(g, 0).total == 0
    m = build_model("mamba2", 3, 32, d_state=8, head_dim=16, copies=8, max_length=64)
    cfg = Mamba2Config(num_hidden_layers=3, hidden_size=32, state_size=8, expand=2, head_dim=16, num_heads=4,
                       n_groups=1, conv_kernel=4)
    for pos in (1, 32, 10_000):
        assert hs.history_state(m, pos) == hs.history_state(cfg, pos).__class__(
            **{**hs.history_state(cfg, pos).__dict__, "detail": hs.history_state(m, pos).detail})
    per_layer = 4 * 16 * 8 + (64 + 2 * 8) * 3
    assert hs.history_state(m, 5).total == 3 * per_layer
    assert m.spec.label() == "mamba2 3x32 N=8" and g.spec.label() == "gpt2 3x32"


def test_kernel_choice_on_cpu():
    assert load_mamba_ssm_mamba2() is None or torch.cuda.is_available()
    m = build_model("mamba2", 1, 16, d_state=4, copies=8, max_length=16)
    assert m.kernel == "torch"
    assert build_model("gpt2", 1, 16, copies=8, max_length=16).kernel == "sdpa"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="mamba_ssm"):
            build_model("mamba2", 1, 16, d_state=4, copies=8, max_length=16, require_kernels=True)


@pytest.mark.parametrize("kwargs, match", [
    (dict(backbone="lstm"), "backbone"),
    (dict(backbone="gpt2", n_layer=0), "n_layer"),
    (dict(backbone="gpt2", d_model=30, n_head=4), "divisible"),
    (dict(backbone="mamba2", d_model=24, head_dim=7), "divisible"),
    (dict(backbone="mamba2", sigma_floor=0.0), "sigma_floor"),
    (dict(backbone="mamba2", sigma_param="relu"), "sigma_param"),
])
def test_bad_model_specs(kwargs, match):
    base = dict(backbone="gpt2", n_layer=1, d_model=16)
    with pytest.raises(ValueError, match=match):
        ModelSpec(**{**base, **kwargs})


def test_bad_inputs():
    model = build_model("gpt2", 1, 16, copies=8, max_length=16)
    with pytest.raises(ValueError, match="tokens must be"):
        model(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="max_length"):
        model(torch.randn(1, 17, 8))
    x, dt, A, B, C, D = _ssd_inputs(0)
    with pytest.raises(ValueError, match="dt must be"):
        ssd_chunked(x, dt[:, :-1], A, B, C)
    with pytest.raises(ValueError, match="chunk_size"):
        ssd_chunked(x, dt, A, B, C, chunk_size=0)
    with pytest.raises(ValueError, match="scan"):
        Mamba2Torch(16, d_state=4, headdim=8, scan="parallel")
    with pytest.raises(ValueError, match="Mamba2Torch expects"):
        Mamba2Torch(16, d_state=4, headdim=8)(torch.randn(1, 3, 15))


def test_n_params_counted_by_hand():
    c, d, L = 8, 16, 16  # copies, d_model, max_length; one GPT-2 layer
    model = build_model("gpt2", 1, d, copies=c, max_length=L)
    embed = (c * d + d) + (d * d + d)  # Linear(c, d), GELU, Linear(d, d)
    # layer norm, fused q/k/v, attention output, layer norm, MLP up (4d), MLP down
    block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    head = (d * d + d) + (d * 2 * c + 2 * c)  # Linear(d, d), GELU, Linear(d, 2c): mean and scale
    trainable = embed + L * d + block + 2 * d + head  # positions, one block, final layer norm
    assert model.n_params() == trainable == 4528
    assert model.n_params(trainable_only=False) == trainable + d  # + the frozen 1 x d token embedding


@pytest.mark.parametrize("backbone", ["gpt2", "mamba2"])
def test_history_state_refuses_a_negative_position(backbone):
    """A fixed state has the same size at every position, but a negative position is still a mistake."""
    with pytest.raises(ValueError, match=r"position must be an integer >= 0 .*got -5"):
        ModelSpec(backbone, 2, 32).history_state(-5)
