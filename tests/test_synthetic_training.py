"""Training on the exact Gaussian sequences (chapter 6): loss, baseline, training, resume, sweeps."""

import contextlib
import json
import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from l2m_utils import gaussian_sequences as gs  # noqa: E402
from l2m_utils import synthetic_training as st  # noqa: E402
from l2m_utils import information as info  # noqa: E402
from l2m_utils.language_model import lr_factor  # noqa: E402


def tiny(backbone="gpt2", depth=2, steps=12, seed=0, lr=1e-2, batch=4, eval_every=4, **kw):
    model = st.parse_model("gpt2-1x16" if backbone == "gpt2" else "mamba2-1x16-N4", copies=8, max_length=4**depth)
    return st.RunConfig(model=model, depth=depth, seed=seed, steps=steps, batch=batch, lr=lr, warmup=2,
                        eval_every=eval_every, eval_sequences=8, **kw)


# ------------------------------------------------------------------------------------------ loss


def test_loss_equals_the_kl_formula_on_hand_built_inputs():
    # KL(N(0, 1) || N(1, 2^2)) = log 2 + (1 + 1) / 8 - 1/2
    mu_q, sigma_q = torch.ones(1, 1, 2), torch.full((1, 1, 2), 2.0)
    mu_p, sigma_p = torch.zeros(1, 1, 2), torch.ones(1)
    expected = math.log(2) + 2 / 8 - 0.5
    assert st.kl_per_position(mu_q, sigma_q, mu_p, sigma_p).item() == pytest.approx(expected, rel=1e-6)
    assert gs.exact_kl(mu_q, sigma_q, mu_p, sigma_p).item() == pytest.approx(expected, rel=1e-6)
    # per-dimension average: one dimension exact, one off
    mu_q2 = torch.tensor([[[0.0, 1.0]]])
    sigma_q2 = torch.tensor([[[1.0, 2.0]]])
    assert st.kl_per_position(mu_q2, sigma_q2, mu_p, sigma_p).item() == pytest.approx(expected / 2, rel=1e-6)


def test_unchecked_kl_equals_exact_kl():
    gen = torch.Generator().manual_seed(0)
    mu_q, mu_p = torch.randn(3, 7, 5, generator=gen), torch.randn(3, 7, 5, generator=gen)
    sigma_q = torch.rand(3, 7, 5, generator=gen) + 0.1
    for sigma_p in (torch.rand(7, generator=gen) + 0.1, torch.rand(3, 7, 5, generator=gen) + 0.1):
        torch.testing.assert_close(st.kl_per_position(mu_q, sigma_q, mu_p, sigma_p),
                                   gs.exact_kl(mu_q, sigma_q, mu_p, sigma_p))


def test_true_conditionals_have_zero_loss_and_the_marginal_costs_the_baseline():
    sampler = gs.GaussianSequenceSampler(3, copies=16)
    batch = sampler.sample(256, seed=1)
    sig = batch.sigma[None, :, None].expand_as(batch.mu)
    assert st.kl_per_position(batch.mu, sig, batch.mu, batch.sigma).abs().max().item() < 1e-6
    # predicting N(0, 1) everywhere: the expected KL is the trivial baseline -mean log sigma_p
    kl = st.kl_per_position(torch.zeros_like(batch.mu), torch.ones_like(batch.mu), batch.mu, batch.sigma)
    baseline = gs.trivial_baseline_kl(batch.sigma.double().numpy())
    assert kl.mean().item() == pytest.approx(baseline, rel=0.03)


class ExactConditionals(torch.nn.Module):
    """The true model of one Gaussian family: row i of its output is E[w_{i+1} | w_1..w_i] = sum_j A[i, j] w_{j+1}
    and sigma_{i+1}, computed from its *input* only (BOS, w_1, ..., w_{L-1})."""

    def __init__(self, depth, family="subvolume"):
        super().__init__()
        a, sigma = gs.exact_conditionals(gs.sequence_covariance(depth, family))
        self.register_buffer("a", torch.as_tensor(a, dtype=torch.float64))
        self.register_buffer("sigma", torch.as_tensor(sigma, dtype=torch.float64))

    def forward(self, tokens):
        L = tokens.shape[1]
        mu = torch.einsum("ij,bjk->bik", self.a[:L, : L - 1], tokens[:, 1:L])  # w_1..w_{L-1}; BOS carries nothing
        return mu, self.sigma[:L, None].expand_as(mu)


def test_evaluate_gives_zero_for_the_exact_model_and_the_baseline_for_the_marginal():
    """Pins the shift between inputs and targets: a model shown the token it predicts (or one token too
    few) would not be exact here."""
    depth = 3
    sampler = gs.GaussianSequenceSampler(depth, copies=4, dtype=torch.float64)
    batch = sampler.sample(16, seed=3)
    oracle = ExactConditionals(depth)
    torch.testing.assert_close(oracle.sigma, batch.sigma)
    kl = st.evaluate(oracle, batch.tokens, batch.mu, batch.sigma, micro_batch=5, autocast=st.nullcontext())
    assert kl.shape == (4**depth,) and np.abs(kl).max() < 1e-10
    assert oracle.training  # evaluate restores the mode it found

    class Marginal(torch.nn.Module):  # N(0, 1) everywhere: each w_i has unit variance
        def forward(self, tokens):
            return torch.zeros_like(tokens, dtype=torch.float64), torch.ones_like(tokens, dtype=torch.float64)

    kl0 = st.evaluate(Marginal(), batch.tokens, batch.mu, batch.sigma, micro_batch=16, autocast=st.nullcontext())
    # E KL_i = -log sigma_i exactly (law of total variance); 16 x 4 draws per position give a few % noise
    assert kl0.mean() == pytest.approx(gs.trivial_baseline_kl(batch.sigma.numpy()), rel=0.05)


def test_training_and_evaluation_read_the_same_inputs():
    batch = gs.GaussianSequenceSampler(2, copies=4, dtype=torch.float64).sample(2, seed=0)
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, tokens):
            seen.append(tokens)
            return tokens, torch.ones_like(tokens)

    mu, _ = st.predict(Spy(), batch.tokens, 16)
    assert torch.equal(seen[0], batch.tokens[:, :16]) and torch.equal(seen[0][:, 0], torch.zeros(2, 4, dtype=torch.float64))
    torch.testing.assert_close(mu[:, 1:], batch.tokens[:, 1:16])  # row i has seen w_i, not w_{i+1}


def test_training_steps_and_evaluations_go_through_predict(tmp_path, monkeypatch):
    """train_run must feed the model with predict() (the shift pinned above) at every step and evaluation."""
    calls = []
    real = st.predict

    def counting(model, tokens, length):
        calls.append((tokens.shape[1], length))
        return real(model, tokens, length)

    monkeypatch.setattr(st, "predict", counting)
    cfg = tiny(steps=4, eval_every=2, batch=2)
    assert st.train_run(cfg, results_dir=tmp_path, progress=False).status == "finished"
    L = 4**cfg.depth
    assert len(calls) >= cfg.steps + 2  # 4 steps and at least 2 evaluations
    assert all(n == L + 1 and length == L for n, length in calls)  # BOS + L tokens in, L predictions out


def test_every_training_step_draws_fresh_sequences(tmp_path):
    """Training batches come from the run's generator, one new batch per step, never reused; only the
    held-out batch is drawn with the fixed evaluation seed."""
    cfg = tiny(steps=4, eval_every=2, batch=2)
    cache = {}
    data = st._task(cache, cfg, torch.device("cpu"))
    real_sample, draws = data.sampler.sample, []

    def recording(batch, generator=None, seed=None):
        out = real_sample(batch, generator=generator, seed=seed)
        draws.append((generator is not None, seed, out.tokens.clone()))
        return out

    data.sampler.sample = recording
    assert st.train_run(cfg, results_dir=tmp_path, data_cache=cache, progress=False).status == "finished"
    training = [tokens for from_generator, _, tokens in draws if from_generator]
    assert [seed for from_generator, seed, _ in draws if not from_generator] == [st.EVAL_SEED]
    assert len(training) == cfg.steps
    assert all(not torch.equal(a, b) for i, a in enumerate(training) for b in training[i + 1:])


def test_lr_schedule():
    f = [lr_factor(s, 110, 10, 0.1) for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[60] == pytest.approx(0.55)
    assert lr_factor(110, 110, 10, 0.1) == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))


def test_position_bins_cover_every_position_once():
    for L in (4, 16, 64, 4096):
        bins = st.position_bins(L)
        covered = [p for a, b in bins for p in range(a, b)]
        assert covered == list(range(1, L + 1))
        assert len(bins) <= 32


# ------------------------------------------------------------------------------------------ configs


def test_parse_model_and_keys():
    spec = st.parse_model("mamba2-4x256-N16")
    assert (spec.backbone, spec.n_layer, spec.d_model, spec.d_state, spec.head_dim) == ("mamba2", 4, 256, 16, 64)
    assert st.parse_model("gpt2-2x32").n_head == 1 and st.parse_model("gpt2-8x512").n_head == 8
    a, b = tiny(), tiny(seed=1)
    assert a.key().startswith("gpt2-1x16-L16-s0-12st-") and a.key() != b.key()
    assert a.key() == tiny().key()
    assert st.RunConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a


@pytest.mark.parametrize("text", ["gpt2", "gpt2-4", "gpt2-4x256-N16", "mamba2-4x256-H4", "mamba2-4x256-Q3"])
def test_bad_model_strings(text):
    with pytest.raises(ValueError, match="model"):
        st.parse_model(text)


def test_bad_run_configs():
    with pytest.raises(ValueError, match="powers of 4"):
        st.sweep_configs(["gpt2-1x16"], [32], [0], 10, 256, 1e-3, 1)
    with pytest.raises(ValueError, match="warmup"):
        st.RunConfig(model=tiny().model, depth=2, steps=5, warmup=5)
    with pytest.raises(ValueError, match="precision"):
        st.RunConfig(model=tiny().model, depth=2, precision="fp16")
    with pytest.raises(ValueError, match="max_length"):
        st.RunConfig(model=tiny().model, depth=3)
    with pytest.raises(ValueError, match="CUDA"):
        st.train_run(tiny(precision="bf16"), progress=False)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        st.train_run(tiny(), stop_after_steps=3, progress=False)
    with pytest.raises(ValueError, match="unknown sweep profile"):
        st.profile_configs("huge")


def test_profiles_are_well_formed():
    gpu = st.profile_configs("gpu")
    lengths = sorted({c.length for c in gpu})
    assert {64, 256, 1024, 4096} <= set(lengths)
    gpt = {c.model.label() for c in gpu if c.model.backbone == "gpt2"}
    mamba = {c.model.label() for c in gpu if c.model.backbone == "mamba2"}
    assert len(gpt) >= 2 and len(mamba) >= 3 and len({c.model.d_state for c in gpu if c.model.backbone == "mamba2"}) >= 2
    assert len({c.seed for c in gpu}) >= 2
    assert len({c.key() for c in gpu}) == len(gpu)
    assert [c.seed for c in gpu] == sorted(c.seed for c in gpu)  # seed-major order
    assert len(st.profile_configs("smoke")) <= 4
    for name, profile in st.SWEEP_PROFILES.items():  # a rate for a model the profile does not train is a slip
        models = {st.parse_model(m) for m in profile["models"]}
        assert all(st.parse_model(k) in models for k in profile["lr_by_model"]), name


# ------------------------------------------------------------------------------------------ training


def test_a_tiny_training_run_reduces_the_kl(tmp_path):
    cfg = tiny(steps=60, eval_every=20, lr=2e-2, batch=16)
    out = st.train_run(cfg, results_dir=tmp_path, progress=False)
    r = out.result
    assert out.status == "finished" and (tmp_path / f"{cfg.key()}.json").exists()
    m = r["metrics"]
    assert m["kl"] < 0.9 * m["baseline_kl"], m
    assert m["kl_over_baseline"] == pytest.approx(m["kl"] / m["baseline_kl"], rel=1e-4)
    assert r["curve"]["step"] == [20, 40, 60]
    assert r["model"]["history_state_half"] == 2 * 1 * 16 * 8
    assert r["data"]["bipartite_mi"] == pytest.approx(gs.equal_split_mi(2) * 8, rel=1e-5)
    assert m["nll"] == pytest.approx(m["kl"] + m["entropy"], rel=1e-4)
    assert r["provenance"]["steps"] == 60 and r["provenance"]["tokens"] == 60 * 16 * 16
    assert json.loads((tmp_path / f"{cfg.key()}.json").read_text())["key"] == cfg.key()


@pytest.mark.parametrize("backbone", ["gpt2", "mamba2"])
def test_resume_after_interruption_reproduces_the_run(tmp_path, backbone):
    cfg = tiny(backbone, steps=12, eval_every=4)
    straight = st.train_run(cfg, progress=False).result
    ck = tmp_path / "ck"
    first = st.train_run(cfg, checkpoint_dir=ck, stop_after_steps=6, progress=False)
    assert first.status == "interrupted" and first.step == 6 and st.checkpoint_path(ck, cfg).exists()
    resumed = st.train_run(cfg, checkpoint_dir=ck, progress=False)
    assert resumed.status == "finished" and not st.checkpoint_path(ck, cfg).exists()
    r = resumed.result
    assert r["curve"] == straight["curve"]
    assert r["metrics"] == straight["metrics"]
    assert r["provenance"]["resumed_from_steps"] == [6] and r["provenance"]["steps"] == 12


def test_periodic_checkpoints_and_a_foreign_checkpoint_is_refused(tmp_path):
    cfg = tiny(steps=8)
    st.train_run(cfg, checkpoint_dir=tmp_path, checkpoint_every_steps=3, keep_checkpoint=True, progress=False)
    blob = torch.load(st.checkpoint_path(tmp_path, cfg), weights_only=True)
    assert blob["state"]["step"] == 6  # the last periodic checkpoint before the end
    other = tiny(steps=8, lr=5e-3)
    st.checkpoint_path(tmp_path, cfg).rename(st.checkpoint_path(tmp_path, other))
    with pytest.raises(ValueError, match="different configuration"):
        st.train_run(other, checkpoint_dir=tmp_path, progress=False)


def test_a_resume_on_another_kernel_is_recorded(tmp_path, monkeypatch):
    # a run interrupted on one Mamba-2 path and resumed on the other names both in its record
    cfg = tiny("mamba2", steps=8, eval_every=4)
    first = st.train_run(cfg, checkpoint_dir=tmp_path, stop_after_steps=4, progress=False)
    assert first.status == "interrupted"
    real = st.build_model

    def other_kernel(**kw):
        model = real(**kw)
        object.__setattr__(model.backbone, "kernel", "other")  # what the model reports as its kernel
        return model

    monkeypatch.setattr(st, "build_model", other_kernel)
    r = st.train_run(cfg, checkpoint_dir=tmp_path, progress=False).result
    assert r["model"]["kernel"] == f"{real(spec=cfg.model, device='cpu', seed=0).kernel}+other"
    monkeypatch.undo()
    assert st.train_run(tiny("mamba2", steps=4, eval_every=4), progress=False).result["model"]["kernel"] == "torch"


@pytest.mark.parametrize("interrupt", ["periodic", "stop_after_steps"])
def test_a_diverged_run_is_never_checkpointed(tmp_path, monkeypatch, interrupt):
    # the loss turns NaN at step 5; the checkpoint due at step 6 (between evaluations at 8) must not be written
    real, calls = st.kl_per_position, []

    def diverging(*args):
        calls.append(1)
        out = real(*args)
        return out * float("nan") if len(calls) >= 5 else out

    monkeypatch.setattr(st, "kl_per_position", diverging)
    cfg = tiny(steps=12, eval_every=8)
    extra = dict(checkpoint_every_steps=3) if interrupt == "periodic" else dict(stop_after_steps=6)
    with pytest.raises(FloatingPointError, match="step 6"):
        st.train_run(cfg, checkpoint_dir=tmp_path, keep_checkpoint=True, progress=False, **extra)
    path = st.checkpoint_path(tmp_path, cfg)
    if interrupt == "periodic":
        assert torch.load(path, weights_only=True)["state"]["step"] == 3  # the step-3 one is kept
    else:
        assert not path.exists()


# ------------------------------------------------------------------------------------------ sweeps


def _fake_result(cfg, kl=0.1):
    return {"key": cfg.key(), "status": "finished", "config": cfg.to_dict(), "label": cfg.model.label(),
            "metrics": {"kl": kl, "kl_over_baseline": 0.5, "baseline_kl": 0.2},
            "data": {"L": cfg.length, "bipartite_mi": 1.0},
            "model": {"backbone": cfg.model.backbone, "kernel": "x", "history_state_half": 1, "hidden_x_layers": 1},
            "provenance": {"tokens_per_s": 1e3, "wall_time_s": 1.0, "device": "fake", "steps": cfg.steps}}


def test_sweep_skips_runs_with_results_and_trains_the_rest(tmp_path, monkeypatch):
    configs = [tiny(seed=s) for s in range(3)]
    from l2m_utils.cache import atomic_write_json

    atomic_write_json(st.results_path(tmp_path, configs[1]), _fake_result(configs[1]))
    calls = []

    def fake_train(cfg, device, **kw):
        calls.append(cfg.key())
        rec = _fake_result(cfg, kl=0.2)
        atomic_write_json(st.results_path(kw["results_dir"], cfg), rec)
        return st.RunOutcome("finished", cfg.key(), cfg.steps, rec)

    monkeypatch.setattr(st, "train_run", fake_train)
    rep = st.run_sweep(configs, tmp_path, tmp_path / "ck", max_runs=1, log=None)
    assert calls == [configs[0].key()]
    assert rep.loaded == [configs[1].key()] and rep.not_run == [configs[2].key()]
    assert [r["key"] for r in rep.results] == [configs[0].key(), configs[1].key()]
    rep2 = st.run_sweep(configs, tmp_path, tmp_path / "ck", log=None)
    assert calls[-1] == configs[2].key() and len(calls) == 2 and len(rep2.loaded) == 2
    rep3 = st.run_sweep(configs, tmp_path, tmp_path / "ck", time_budget_s=0.0, log=None)
    assert len(rep3.results) == 3 and not rep3.not_run  # everything done: nothing to skip
    st.run_sweep(configs[:1], tmp_path, tmp_path / "ck", retrain=True, log=None)
    assert calls[-1] == configs[0].key() and len(calls) == 3
    # a results file of another configuration under the same name is not trusted
    bad = _fake_result(configs[2])
    bad["key"] = "something-else"
    atomic_write_json(st.results_path(tmp_path, configs[2]), bad)
    assert st.load_result(tmp_path, configs[2]) is None


def test_time_budget_skips_runs_that_would_not_fit(tmp_path, monkeypatch):
    configs = [tiny(seed=s) for s in range(3)]

    def fake_train(cfg, device, **kw):
        rec = _fake_result(cfg)
        rec["provenance"]["device"] = st.device_label(torch.device("cpu"))
        rec["provenance"]["tokens_per_s"] = 1.0  # 12 steps x 4 x 16 tokens at 1 tok/s: far too slow
        return st.RunOutcome("finished", cfg.key(), cfg.steps, rec)

    monkeypatch.setattr(st, "train_run", fake_train)
    rep = st.run_sweep(configs, tmp_path, tmp_path / "ck", time_budget_s=60.0, log=None)
    assert rep.trained == [configs[0].key()] and rep.not_run == [c.key() for c in configs[1:]]


def test_a_shared_budget_limits_several_sweeps_together(tmp_path, monkeypatch):
    configs = [tiny(seed=s) for s in range(4)]
    calls = []

    def fake_train(cfg, device, **kw):
        calls.append(cfg.key())
        return st.RunOutcome("finished", cfg.key(), cfg.steps, _fake_result(cfg))

    monkeypatch.setattr(st, "train_run", fake_train)
    budget = st.SweepBudget(max_runs=3)
    first = st.run_sweep(configs[:2], tmp_path, tmp_path / "ck", budget=budget, log=None)
    second = st.run_sweep(configs[2:], tmp_path, tmp_path / "ck", budget=budget, log=None)
    assert len(first.trained) == 2 and second.trained == [configs[2].key()] and second.not_run == [configs[3].key()]
    assert calls == [c.key() for c in configs[:3]] and budget.runs_left() == 0
    # the clock runs from the budget's creation, not from each call
    late = st.SweepBudget(time_budget_s=10.0, started=st.time.monotonic() - 11.0)
    assert st.run_sweep(configs, tmp_path, tmp_path / "ck", budget=late, log=None).not_run == [c.key() for c in configs]
    assert len(calls) == 3
    with pytest.raises(ValueError, match="either budget or max_runs"):
        st.run_sweep(configs, tmp_path, tmp_path / "ck", budget=budget, max_runs=1, log=None)
    # a later call estimates its first run from an earlier call's run of the same model (at least 5 s here,
    # more than the 4 s budget): it is left for later instead of overrunning the budget
    monkeypatch.setattr(st, "device_label", lambda device: "fake")
    timed = st.SweepBudget(time_budget_s=4.0)
    assert st.run_sweep(configs[:1], tmp_path / "t", tmp_path / "ck", budget=timed, log=None).trained == [configs[0].key()]
    assert st.run_sweep(configs[1:2], tmp_path / "t", tmp_path / "ck", budget=timed, log=None).not_run == [configs[1].key()]
    assert len(timed.records) == 1 and timed.runs_used == 1
    with pytest.raises(ValueError, match="max_runs"):
        st.SweepBudget(max_runs=-1)


def test_real_sweep_and_results_table(tmp_path):
    configs = st.sweep_configs(["gpt2-1x16"], [4, 16], [0], 4, 64, 1e-2, 1, eval_points=2, eval_tokens=64,
                               copies=8)
    rep = st.run_sweep(configs, tmp_path, tmp_path / "ck", progress=False, log=None, sweep_workers=2,
                       claim_dir=tmp_path / "claims")
    assert all(r["provenance"]["sweep_workers"] == 2 for r in rep.results)  # what the tokens/s shared
    rows = st.results_table(rep.results)
    assert [r["L"] for r in rows] == [4, 16] and all(r["kl"] > 0 for r in rows)
    assert rows[1]["history_state"] == 2 * 16 * 8
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(f"{c.key()}.json" for c in configs)


def test_a_run_is_claimed_once(tmp_path):
    assert st.claim_run(tmp_path / "claims", "run-a")  # makes the folder
    assert not st.claim_run(tmp_path / "claims", "run-a")
    assert st.claim_run(tmp_path / "claims", "run-b")
    assert (tmp_path / "claims" / "run-a.claim").read_text() == f"{os.getpid()}\n"


def _claim_when_all_are_ready(barrier, claim_dir, results):
    barrier.wait()  # every process tries at the same moment
    results.put(st.claim_run(claim_dir, "run-a"))


def test_a_run_is_claimed_once_by_processes_racing_for_it(tmp_path):
    """The claim is atomic (O_EXCL), not check-then-write: of 8 processes released together, one wins."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(8, timeout=30), ctx.Queue()
    procs = [ctx.Process(target=_claim_when_all_are_ready, args=(barrier, tmp_path / "claims", results), daemon=True)
             for _ in range(8)]
    try:
        for p in procs:
            p.start()
        won = [results.get(timeout=60) for _ in procs]
    finally:  # a child that died must not leave the others waiting (and pytest with them)
        for p in procs:
            p.terminate()
            p.join(timeout=10)
    assert sorted(won) == [False] * 7 + [True]


def test_sweeps_sharing_a_claim_folder_never_train_the_same_run(tmp_path, monkeypatch):
    from l2m_utils.cache import atomic_write_json

    configs = [tiny(seed=s) for s in range(5)]
    atomic_write_json(st.results_path(tmp_path, configs[1]), _fake_result(configs[1]))
    trained = []

    def fake_train(cfg, device, **kw):
        trained.append((cfg.key(), kw["sweep_workers"]))
        return st.RunOutcome("finished", cfg.key(), cfg.steps, _fake_result(cfg))  # no results file: still missing

    monkeypatch.setattr(st, "train_run", fake_train)
    claims = tmp_path / "claims"
    first = st.run_sweep(configs, tmp_path, tmp_path / "ck", max_runs=2, claim_dir=claims, sweep_workers=2, log=None)
    second = st.run_sweep(configs, tmp_path, tmp_path / "ck", claim_dir=claims, sweep_workers=2, log=None)
    assert first.trained == [configs[0].key(), configs[2].key()] and first.loaded == [configs[1].key()]
    assert second.elsewhere == first.trained  # claimed by the first sweep: passed over
    assert second.trained == [configs[3].key(), configs[4].key()]
    assert [k for k, _ in trained] == first.trained + second.trained and {w for _, w in trained} == {2}
    assert "2 taken by other sweeps" in second.summary() and "taken" not in first.summary()
    with pytest.raises(ValueError, match="several sweeps sharing a device need a claim_dir"):
        st.run_sweep(configs, tmp_path, tmp_path / "ck", sweep_workers=2, log=None)


def test_duration_estimates_allow_for_sweeps_sharing_the_device():
    cfg = tiny()
    rec = _fake_result(cfg)
    rec["provenance"].update(device="dev", tokens_per_s=cfg.steps * cfg.batch * cfg.length / 10.0)  # a 10 s run
    alone = st._estimate_s(cfg, [rec], "dev")
    assert alone == pytest.approx(10 * 1.1 + 5)
    assert st._estimate_s(cfg, [rec], "dev", sweep_workers=3) == pytest.approx(10 * 1.1 * 3 + 5)  # worst case
    rec["provenance"]["sweep_workers"] = 3  # made beside two others already: its rate holds
    assert st._estimate_s(cfg, [rec], "dev", sweep_workers=3) == pytest.approx(alone)
    assert st._estimate_s(cfg, [rec], "other device", sweep_workers=3) is None


def test_command_line_sweeps_side_by_side(tmp_path, monkeypatch, capsys):
    seen = []

    def fake_sweep(configs, results_dir, checkpoint_dir, device, **kw):
        seen.append((len(configs), kw["sweep_workers"], kw["claim_dir"]))
        return st.SweepReport()

    monkeypatch.setattr(st, "run_sweep", fake_sweep)
    base = ["sweep", "--profile", "smoke", "--results-dir", str(tmp_path), "--device", "cpu", "--no-progress"]
    n = len(st.profile_configs("smoke"))
    assert st.main(base + ["--workers", "2", "--claim-dir", str(tmp_path / "c")]) == 0
    assert seen[-1] == (n, 2, str(tmp_path / "c"))  # every run offered: the claims decide who trains it
    assert "one of 2 sweeps at once" in capsys.readouterr().out
    assert st.main(base) == 0 and seen[-1] == (n, 1, None)
    with pytest.raises(SystemExit):
        st.main(base + ["--workers", "3"])
    assert "--workers above 1 needs --claim-dir" in capsys.readouterr().err


def test_command_line_list(tmp_path, capsys):
    assert st.main(["list", "--profile", "smoke", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("missing") == len(st.profile_configs("smoke"))


def test_models_problem_names_a_bad_entry_before_a_duplicate():
    assert st.models_problem(["gpt2-1x16", "mamba2-1x16-N4"]) is None
    bad = st.models_problem(["mamba-1x16", "gpt2-1x16", "gpt2-1x16"])
    assert bad.startswith("models entry 'mamba-1x16' (backbone must be one of ('gpt2', 'mamba2'), got 'mamba') is "
                          "not a model name: write each model as 'gpt2-<layers>x<width>'") and "twice" not in bad
    assert st.models_problem(["x", "y"]).startswith("models entries 'x' (")
    assert "name one model twice" in st.models_problem(["mamba2-2x64", "mamba2-2x64-N64"])


def test_results_dir_is_a_folder_of_its_own(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert st.results_folder("results/ch06", repo) == repo / "results" / "ch06"
    assert st.results_folder("~/runs", repo) == tmp_path / "home" / "runs"  # "~" expanded, not a folder named ~
    assert st.results_folder(str(tmp_path / "abs"), repo) == tmp_path / "abs"
    for fine in ("results/ch06", "~/runs", str(tmp_path / "abs"), st.TEMPORARY_RESULTS):
        assert st.results_dir_problem(fine, repo) is None, fine
    assert st.results_dir_problem("", repo).startswith("results_dir='' is empty: the run results")
    assert st.results_dir_problem(".", repo).startswith(f"results_dir='.' ({repo}) is the repository root itself")
    assert "is the repository root itself" in st.results_dir_problem("results/..", repo)
    assert "holds the whole repository" in st.results_dir_problem(str(tmp_path), repo)


# ---- cases a mutation audit found missing: each fails on a plausible slip that the tests above let through ----


def test_evaluate_does_not_depend_on_the_micro_batch():
    batch = gs.GaussianSequenceSampler(2, copies=4, dtype=torch.float64).sample(16, seed=3)

    class Marginal(torch.nn.Module):
        def forward(self, tokens):
            return torch.zeros_like(tokens, dtype=torch.float64), torch.ones_like(tokens, dtype=torch.float64)

    a = st.evaluate(Marginal(), batch.tokens, batch.mu, batch.sigma, micro_batch=5, autocast=st.nullcontext())
    b = st.evaluate(Marginal(), batch.tokens, batch.mu, batch.sigma, micro_batch=16, autocast=st.nullcontext())
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_result_record_from_a_known_kl_profile(tmp_path, monkeypatch):
    L = 16
    kl_known = np.linspace(0.01, 0.16, L)
    monkeypatch.setattr(st, "evaluate", lambda *a, **k: kl_known.copy())
    model = st.parse_model("gpt2-1x16", copies=8, max_length=L)
    cfg = st.RunConfig(model=model, depth=2, seed=0, steps=4, batch=4, lr=1e-2, warmup=2, eval_every=4,
                       eval_sequences=8)
    m = st.train_run(cfg, results_dir=tmp_path, progress=False).result["metrics"]
    ent = gs.conditional_entropies(gs.sequence_covariance(2))  # H(W_i | W_<i), an independent route
    assert ent.sum() == pytest.approx(info.gaussian_entropy(gs.sequence_covariance(2)))
    assert m["entropy"] == pytest.approx(ent.mean(), abs=1e-5)
    assert m["kl_second_half"] == pytest.approx(kl_known[8:].mean(), abs=1e-5)
    assert m["kl_last_position"] == pytest.approx(kl_known[-1], abs=1e-6)
    assert m["kl"] == pytest.approx(kl_known.mean(), abs=1e-6)
    bins = m["kl_position_bins"]
    for a, b, kl, nll, base in zip(bins["start"], bins["end"], bins["kl"], bins["nll"], bins["baseline"]):
        assert kl == pytest.approx(kl_known[a - 1:b - 1].mean(), abs=1e-5)
        assert nll - kl == pytest.approx(ent[a - 1:b - 1].mean(), abs=2e-5)
    assert bins["nll"][0] - bins["kl"][0] == pytest.approx(0.5 * math.log(2 * math.pi * math.e), abs=2e-5)
    widths = np.subtract(bins["end"], bins["start"])
    assert float(np.dot(widths, bins["baseline"])) / L == pytest.approx(m["baseline_kl"], abs=1e-5)


def test_position_bins_and_sweep_sizes_are_checked():
    assert st.position_bins(1) == [(1, 2)]
    for bad in (0, -3, 2.0):
        with pytest.raises(ValueError, match="length must be a positive integer"):
            st.position_bins(bad)
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        st.position_bins(8, 0)
    with pytest.raises(ValueError, match="tokens_per_step must be a positive integer, got -1"):
        st.sweep_configs(["gpt2-1x16"], [16], [0], 10, -1, 1e-3, 1)


def test_a_checkpoint_resumes_only_on_the_device_type_that_wrote_it(tmp_path):
    # the data generator's state is device-specific: a CUDA checkpoint cannot continue on the CPU,
    # and the refusal says so instead of failing inside torch.Generator.set_state
    cfg = tiny(steps=8)
    assert st.train_run(cfg, checkpoint_dir=tmp_path, stop_after_steps=4, progress=False).status == "interrupted"
    path = st.checkpoint_path(tmp_path, cfg)
    blob = torch.load(path, weights_only=True)
    assert blob["device_type"] == "cpu"
    blob["device_type"] = "cuda"
    torch.save(blob, path)
    with pytest.raises(ValueError, match=r"was written by a run on cuda: its random-number state cannot continue "
                                         r"on cpu; resume it on cuda, or delete the checkpoint"):
        st.train_run(cfg, checkpoint_dir=tmp_path, progress=False)
    # a checkpoint from before the device type was recorded: its generator state tells (16 bytes: CUDA)
    del blob["device_type"]
    blob["generator"] = torch.zeros(16, dtype=torch.uint8)
    torch.save(blob, path)
    with pytest.raises(ValueError, match="was written by a run on cuda"):
        st.train_run(cfg, checkpoint_dir=tmp_path, progress=False)


@pytest.mark.parametrize("kw, message", [
    ({"weight_decay": -1.0}, r"RunConfig.weight_decay must lie in \[0, 1\), got -1.0"),
    ({"betas": (1.5, 2.0)}, r"RunConfig.betas must be two numbers in \[0, 1\) \(AdamW\), got \(1.5, 2.0\)"),
    ({"betas": (0.9,)}, r"RunConfig.betas must be two numbers"),
    ({"grad_clip": float("nan")}, r"RunConfig.grad_clip must be a finite norm >= 0 \(0: no clipping\), got nan"),
    ({"grad_clip": -1.0}, "RunConfig.grad_clip must be a finite norm >= 0"),
])
def test_run_config_refuses_optimiser_settings_adamw_would_fail_on_or_ignore(kw, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kw)
    tiny(grad_clip=0.0, weight_decay=0.0)  # no clipping, no decay: allowed


def test_sweep_configs_check_seeds_and_eval_points():
    args = dict(models=["gpt2-1x16"], lengths=[16], steps=10, tokens_per_step=64, lr=1e-3, warmup=2)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got 1.7"):
        st.sweep_configs(seeds=[1.7], **args)
    with pytest.raises(ValueError, match="eval_points must be a positive integer, got 0"):
        st.sweep_configs(seeds=[0], eval_points=0, **args)
    assert [c.seed for c in st.sweep_configs(seeds=[0, np.int64(2)], **args)] == [0, 2]



def test_each_model_trains_at_its_own_rate_where_lr_by_model_names_one():
    args = dict(models=["gpt2-1x16", "mamba2-1x16-N4", "mamba2-1x16-N8"], lengths=[16, 64], seeds=[0],
                steps=10, tokens_per_step=256, lr=3e-3, warmup=2)
    plain = st.sweep_configs(**args)
    assert {c.lr for c in plain} == {3e-3}
    # a key names a model, not a string: "mamba2-1x16-N4-P8" is mamba2-1x16-N4 with its default head_dim
    mixed = st.sweep_configs(**args, lr_by_model={"mamba2-1x16-N4-P8": 1e-3, "gpt2-9x64": 5e-4})
    assert [(c.model.label(), c.lr) for c in mixed if c.length == 16] == [
        ("gpt2 1x16", 3e-3), ("mamba2 1x16 N=4", 1e-3), ("mamba2 1x16 N=8", 3e-3)]
    # the run's rate is part of its key: the other models' runs are the same runs as without the table
    assert [c.key() for c in mixed if c.lr == 3e-3] == [c.key() for c in plain if c.model.d_state != 4]
    assert st.sweep_configs(**args, lr_by_model={}) == plain
    assert st.model_lr("gpt2-1x16", 3e-3, None) == 3e-3


@pytest.mark.parametrize("table, message", [
    ({"gpt-1x16": 1e-3}, r"lr_by_model key 'gpt-1x16' \(backbone must be one of"),
    ({"gpt2-1x16": 1.0}, r"lr_by_model rates must lie in \(0, 1\), got 'gpt2-1x16': 1.0"),
    ({"gpt2-1x16": float("nan")}, r"lr_by_model rates must lie in \(0, 1\), got 'gpt2-1x16': nan"),
    ({"mamba2-1x16": 1e-3, "mamba2-1x16-N64": 2e-3}, "names one model twice"),
    ([("gpt2-1x16", 1e-3)], r"lr_by_model must be a dict \{model: peak learning rate\}"),
])
def test_sweep_configs_refuse_a_bad_lr_by_model(table, message):
    args = dict(models=["gpt2-1x16"], lengths=[16], seeds=[0], steps=10, tokens_per_step=64, lr=1e-3, warmup=2)
    with pytest.raises(ValueError, match=message):
        st.sweep_configs(**args, lr_by_model=table)


@pytest.mark.parametrize("change, message", [
    (dict(models=[]), "models must name at least one model, got none"),
    (dict(models="gpt2-1x16"), r"models must be a list of model names, got 'gpt2-1x16'"),
    (dict(lengths=[]), "lengths must name at least one length, got none"),
    (dict(seeds=[]), "seeds must name at least one seed, got none"),
    (dict(lengths=[16, 16]), r"lengths must be distinct, got \[16, 16\]"),
    (dict(seeds=[1, 1]), r"seeds must be distinct, got \[1, 1\]"),
    (dict(lengths=[16.0]), "length must be a positive integer, got 16.0"),
])
def test_sweep_configs_refuse_empty_or_repeated_lists(change, message):
    """An empty list used to give an empty sweep, and a repeated seed the same run twice, silently."""
    args = dict(models=["gpt2-1x16"], lengths=[16], seeds=[0], steps=10, tokens_per_step=64, lr=1e-3, warmup=2)
    with pytest.raises(ValueError, match=message):
        st.sweep_configs(**{**args, **change})


def test_heldout_marginal_ratio_is_the_marginal_predictor_on_the_runs_batch():
    cfg = st.sweep_configs(["gpt2-1x16"], [16], [0], 10, 256, 1e-3, 1, eval_tokens=2048)[0]
    data = st.TaskData.build(cfg.depth, cfg.family, cfg.model.copies)
    batch = data.sampler.sample(cfg.eval_sequences, seed=st.EVAL_SEED)  # the batch train_run evaluates on
    mu, s = batch.mu.double().numpy(), batch.sigma.double().numpy()[None, :, None]
    by_hand = np.mean(-np.log(s) + (s**2 + mu**2) / 2 - 0.5)  # KL(N(mu, s^2) || N(0, 1)) per element
    assert st.heldout_marginal_ratio(cfg) == pytest.approx(by_hand / data.baseline_kl, rel=1e-6)
    # its expectation is the baseline: over many sequences the ratio approaches 1
    assert data.heldout_marginal_kl(2000) / data.baseline_kl == pytest.approx(1.0, abs=0.01)
    assert st.heldout_marginal_ratio(cfg) != pytest.approx(1.0, abs=1e-4)  # one batch is not its expectation


def test_heldout_marginal_ratio_is_what_train_runs_evaluation_measures_for_the_marginal():
    """evaluate(), the function that gives every run its held-out KL, scores a model that always predicts
    N(0, 1) at exactly heldout_marginal_ratio times the baseline."""
    cfg = st.sweep_configs(["gpt2-1x16"], [16], [0], 10, 256, 1e-3, 1, eval_tokens=2048)[0]
    data = st.TaskData.build(cfg.depth, cfg.family, cfg.model.copies)
    batch = data.sampler.sample(cfg.eval_sequences, seed=st.EVAL_SEED)

    class Marginal(torch.nn.Module):
        def forward(self, tokens):
            return torch.zeros_like(tokens), torch.ones_like(tokens)

    kl = st.evaluate(Marginal(), batch.tokens, batch.mu, batch.sigma, 7, contextlib.nullcontext())
    assert kl.mean() / data.baseline_kl == pytest.approx(st.heldout_marginal_ratio(cfg), rel=1e-6)


def test_the_learning_rate_probe_script_trains_once_and_then_loads(tmp_path, capsys):
    """scripts/probe_ch06_lr.py: one finished run per (model, rate), printed as KL / baseline per evaluation;
    a second call loads the results instead of training again."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("probe_ch06_lr", st.ROOT / "scripts" / "probe_ch06_lr.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    args = ["--models", "gpt2-1x16", "--lrs", "1e-3", "3e-2", "--length", "16", "--steps", "10",
            "--tokens-per-step", "64", "--threads", "1", "--results-dir", str(tmp_path)]
    threads = torch.get_num_threads()
    try:
        assert probe.main(args) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets the process's thread count
    first = capsys.readouterr().out
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 2
    rows = [line for line in first.splitlines() if line.strip().startswith("gpt2-1x16")]
    assert len(rows) == 2 and "lr 0.001" in rows[0] and "lr 0.03" in rows[1]
    assert all(len(row.split("(")[0].split()[3:]) == 5 for row in rows)  # five evaluations each
    stamps = [f.stat().st_mtime_ns for f in files]
    try:
        assert probe.main(args) == 0
    finally:
        torch.set_num_threads(threads)
    assert capsys.readouterr().out == first
    assert [f.stat().st_mtime_ns for f in sorted(tmp_path.glob("*.json"))] == stamps
