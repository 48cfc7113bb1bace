"""Notebook parameter resolution: profiles, overrides and errors that name the parameter."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from l2m_utils.params import (DEVICE_CHOICES, Knob, ParameterError, default_profile, device_knob, resolve_device,
                              resolve_parameters)

KNOBS = {
    "length": Knob(int, "block length", low=2, high=64),
    "rate": Knob(float, "learning rate", low=0.0),
    "dataset": Knob(str, "corpus", choices=("shakespeare", "pg19")),
    "lengths": Knob(list, "lengths", item=int, low=1),
}
PROFILES = {
    "smoke": {"length": 4, "rate": 0.1, "dataset": "shakespeare", "lengths": [2, 4]},
    "classroom": {"length": 16, "rate": 0.01, "dataset": "shakespeare", "lengths": [2, 4, 8]},
    "gpu": {"length": 64, "rate": 0.001, "dataset": "pg19", "lengths": [2, 4, 8, 16]},
}
CHECKS = [(lambda p: max(p.lengths) <= p.length, "every entry of lengths must be <= length")]


def ns(**kwargs):
    base = {"profile": None, "length": None, "rate": None, "dataset": None, "lengths": None,
            "np": np, "In": [], "_i1": "x", "resolve_parameters": resolve_parameters}
    base.update(kwargs)
    return base


def resolve(namespace, environ=None):
    return resolve_parameters(namespace, KNOBS, PROFILES, CHECKS, environ=environ or {})


def test_default_profile_is_classroom_and_env_overrides():
    assert resolve(ns()).profile == "classroom"
    assert resolve(ns(), environ={"L2M_PROFILE": "smoke"}).length == 4
    assert default_profile({"L2M_PROFILE": "gpu"}) == "gpu"
    with pytest.raises(ParameterError, match="L2M_PROFILE='huge'"):
        default_profile({"L2M_PROFILE": "huge"})


def test_override_single_knob():
    p = resolve(ns(profile="smoke", length=8))
    assert (p.profile, p.length, p.rate) == ("smoke", 8, 0.1)
    assert p.overridden == ("length",)
    assert p["dataset"] == "shakespeare" and dict(p)["lengths"] == [2, 4]
    assert "overridden" in repr(p)


def test_int_given_as_float_is_accepted_when_integral():
    assert resolve(ns(length=8.0)).length == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"profile": "huge"}, "'profile'='huge' is not allowed; allowed: smoke, classroom, gpu"),
        ({"lenght": 5}, "unknown parameter\\(s\\) 'lenght'; allowed: profile, length"),
        ({"length": -3}, "'length'=-3 is too small"),
        ({"length": 2.5}, "'length'=2.5 is not an integer"),
        ({"length": "long"}, "'length'='long' is not an integer"),
        ({"rate": float("nan")}, "'rate'=nan is not finite"),
        ({"dataset": "wikitext"}, "'dataset'='wikitext' is not allowed; allowed: one of 'shakespeare', 'pg19'"),
        ({"lengths": [2, 0]}, "'lengths\\[1\\]'=0 is too small"),
        ({"lengths": []}, "'lengths' is an empty list"),
        ({"lengths": [2, 32]}, "every entry of lengths must be <= length"),
    ],
)
def test_invalid_parameters_name_the_problem(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        resolve(ns(**kwargs))


def test_profile_table_must_cover_knobs():
    with pytest.raises(ParameterError, match="missing \\['rate'\\]"):
        resolve_parameters(ns(), KNOBS, {**PROFILES, "smoke": {"length": 4, "dataset": "pg19", "lengths": [2]}})
    with pytest.raises(ParameterError, match="lacks"):
        resolve_parameters(ns(), KNOBS, {"smoke": PROFILES["smoke"]})


def test_parameters_are_read_only():
    p = resolve(ns())
    with pytest.raises(TypeError):
        p["length"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError, match="no parameter named 'nope'"):
        _ = p.nope


def test_a_list_knob_may_allow_the_empty_list():
    knob = Knob(list, "extra runs", item=int, low=1, allow_empty=True)
    assert knob.check("runs", []) == [] and knob.check("runs", [3]) == [3]
    assert "(may be empty)" in knob.describe()
    with pytest.raises(ParameterError, match="'runs\\[0\\]'=0 is too small"):
        knob.check("runs", [0])
    with pytest.raises(ParameterError, match="'runs' is an empty list"):
        Knob(list, "extra runs", item=int).check("runs", [])


def test_a_dict_knob_checks_its_keys_and_each_value():
    knob = Knob(dict, "peak rate per model", item=float, low=1e-7, high=0.1, allow_empty=True)
    assert knob.describe() == "dict of str to float >= 1e-07 and <= 0.1 (may be empty)"
    assert knob.check("rates", {}) == {}
    assert knob.check("rates", {"gpt2-8x512": 1e-3, "m": np.float64(0.01)}) == {"gpt2-8x512": 1e-3, "m": 0.01}
    with pytest.raises(ParameterError, match=r"'rates\[gpt2-8x512\]'=0.5 is too large"):
        knob.check("rates", {"gpt2-8x512": 0.5})
    with pytest.raises(ParameterError, match=r"'rates\[m\]'=nan is not finite"):
        knob.check("rates", {"m": float("nan")})
    with pytest.raises(ParameterError, match="'rates' has a key that is not a string: 3"):
        knob.check("rates", {3: 1e-3})
    with pytest.raises(ParameterError, match=r"'rates'=\[0.001\] is not a dict"):
        knob.check("rates", [1e-3])
    with pytest.raises(ParameterError, match="'rates' is an empty dict"):
        Knob(dict, "peak rate per model", item=float).check("rates", {})


def test_every_failing_check_is_reported_with_the_values_in_one_list():
    checks = [
        (lambda p: p.length >= 8, "length must be at least 8"),
        (lambda p: p.rate < 0.05, "rate must be below 0.05"),
        (lambda p: True, "never shown"),
    ]
    with pytest.raises(ParameterError) as caught:
        resolve_parameters(ns(profile="smoke"), KNOBS, PROFILES, checks, environ={})
    text = str(caught.value)
    assert "(2 of 3 checks failed)" in text
    assert "\n  - length must be at least 8\n  - rate must be below 0.05\n" in text
    assert "never shown" not in text
    assert text.endswith("got: profile='smoke', length=4, rate=0.1, dataset='shakespeare', lengths=[2, 4]")


def test_a_check_message_may_be_a_function_of_the_parameters():
    checks = [(lambda p: max(p.lengths) <= p.length,
               lambda p: f"length={p.length} is too short: lengths need at least {max(p.lengths)}")]
    with pytest.raises(ParameterError, match="  - length=4 is too short: lengths need at least 8\n"):
        resolve_parameters(ns(profile="smoke", lengths=[2, 8]), KNOBS, PROFILES, checks, environ={})
    assert resolve_parameters(ns(profile="smoke"), KNOBS, PROFILES, checks, environ={}).length == 4


def test_a_check_that_raises_is_reported_as_failed_not_as_a_traceback():
    checks = [
        (lambda p: p.lengths[5] > 0, "lengths needs six entries"),
        (lambda p: p.rate < 0.05, lambda p: 1 / 0),  # a broken message function still gives an error
        (lambda p: p.length >= 8, "length must be at least 8"),
    ]
    with pytest.raises(ParameterError) as caught:
        resolve_parameters(ns(profile="smoke"), KNOBS, PROFILES, checks, environ={})
    text = str(caught.value)
    assert "  - lengths needs six entries (the check raised IndexError: list index out of range)\n" in text
    assert "  - a check failed, and its message function raised ZeroDivisionError: division by zero\n" in text
    assert "  - length must be at least 8\n" in text


def test_a_list_knob_refuses_repeated_values():
    knob = Knob(list, "block lengths", item=int, low=1)
    assert knob.check("lengths", [64, 16]) == [64, 16]
    with pytest.raises(ParameterError, match=r"'lengths'=\[64, 16, 16, 64, 8\] repeats 64, 16: give each value once"):
        knob.check("lengths", [64, 16, 16, 64, 8])
    with pytest.raises(ParameterError, match=r"repeats 2\.0"):
        Knob(list, "ratios", item=float).check("ratios", [2, 2.0])  # the same value once converted


@pytest.mark.parametrize("stem", [p.stem for p in sorted((Path(__file__).parents[1] / "notebooks").glob("0*.md"))])
@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_of_every_chapter_passes_its_own_knobs_and_checks(stem, profile):
    """The chapter's parameters cell and the cell that resolves it, run for each profile (no execution
    of anything else): a profile value outside its knob's range or failing a check would fail here."""
    from l2m_utils import book

    nb = book.to_notebook(Path(__file__).parents[1] / "notebooks" / f"{stem}.md")
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(code[first].source, namespace)
    namespace["profile"] = profile
    exec(code[first + 1].source, namespace)
    assert namespace["P"].profile == profile


def _rerun_cell(namespace, **knobs):
    """What re-executing the parameters cell does to a kernel's namespace: every knob back to None,
    then the user's edits."""
    namespace.update({"profile": None, "length": None, "rate": None, "dataset": None, "lengths": None}, **knobs)


def test_a_rerun_in_the_same_kernel_ignores_the_chapters_globals_and_reads_the_parameters_cell():
    namespace = ns(profile="smoke")
    namespace["P"] = first = resolve(namespace)
    # the rest of the chapter's first run leaves its globals behind
    def helper(x):
        return x
    namespace.update(L_demo=7, ax=object(), curve=np.zeros(3), labels=["a"], math=math, helper=helper, _3=first)

    _rerun_cell(namespace, profile="smoke", length=8)  # the user edits one knob and runs all
    with pytest.warns(UserWarning, match=r"already ran the chapter: ignoring 5 name\(s\) defined since "
                                         r"\(L_demo, P, ax, \.\.\.\), so a misspelled parameter goes unnoticed; "
                                         r"for a clean run use Kernel > Restart and run all"):
        namespace["P"] = second = resolve(namespace)
    assert (second.profile, second.length, second.overridden) == ("smoke", 8, ("length",))
    assert {"L_demo", "P", "ax", "curve", "labels"} <= second.namespace_names

    _rerun_cell(namespace, profile="gpu")  # override removed (None again): the profile's value, not 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing new since the second run: no warning
        third = resolve(namespace)
    assert (third.profile, third.length, third.dataset, third.overridden) == ("gpu", 64, "pg19", ())


def test_a_rerun_refuses_a_likely_misspelling_but_not_a_near_namesake_of_another_kind():
    namespace = ns(profile="smoke")
    namespace.update(P=resolve(namespace), rates=np.zeros(3), L_demo=7)  # 'rates' is close to 'rate', an array
    _rerun_cell(namespace, lenght=12)  # close to 'length' and an int that length accepts
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) 'lenght' \(for 'length'\?\): this kernel "
                                             r"already ran the chapter, but this name looks like a misspelled "
                                             r"parameter; correct it \(a name stays defined after you correct it: "
                                             r"del it, or Kernel > Restart and run all\)"):
        resolve(namespace)
    del namespace["lenght"]  # corrected, and the old name removed: the near-namesake array is a leftover
    _rerun_cell(namespace, length=12)
    with pytest.warns(UserWarning, match="ignoring"):
        assert resolve(namespace).length == 12


def test_a_rerun_still_validates_the_knobs():
    namespace = ns()
    namespace.update(P=resolve(namespace), L_demo=7)
    _rerun_cell(namespace, length=-3)
    with pytest.warns(UserWarning), pytest.raises(ParameterError, match="'length'=-3 is too small"):
        resolve(namespace)


def test_a_fresh_namespace_still_rejects_a_misspelled_parameter_and_says_why_a_fix_may_not_take():
    # papermill's fresh kernel, or a kernel whose earlier run stopped at this error (no P was made)
    for namespace in (ns(lenght=5), ns(lenght=5, L_demo=7, curve=np.zeros(3))):
        with pytest.raises(ParameterError, match=r"unknown parameter\(s\) .*'lenght'; allowed: profile, length, "
                                                 r"rate, dataset, lengths \(in a running kernel a name stays defined "
                                                 r".*Kernel > Restart and run all\)"):
            resolve(namespace)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"length": float("nan")}, "'length'=nan is not finite; allowed: int >= 2 and <= 64"),
        ({"length": float("inf")}, "'length'=inf is not finite"),  # papermill's `-p length inf`
        ({"length": -float("inf")}, "'length'=-inf is not finite"),
        ({"length": 1e400}, "'length'=inf is not finite"),  # YAML's 1e400
        ({"length": 10**400}, "'length'=1000+ is too large"),  # an int beyond the largest float
        ({"rate": float("inf")}, "'rate'=inf is not finite; allowed: float >= 0"),  # no upper bound: still refused
        ({"rate": 10**400}, "'rate'=1000+ is too large"),
        ({"lengths": [2, float("nan")]}, "'lengths\\[1\\]'=nan is not finite"),
        ({"lengths": [float("inf"), 2]}, "'lengths\\[0\\]'=inf is not finite"),
    ],
)
def test_nan_and_infinity_are_refused_naming_the_parameter(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        resolve(ns(**kwargs))


def test_a_float_list_refuses_nan_and_infinity_naming_the_item():
    knob = Knob(list, "split ratios", item=float, low=1.5, high=16.0)
    for bad, text in [(float("nan"), "nan"), (float("inf"), "inf"), (-float("inf"), "-inf"), (10**400, "1000+")]:
        with pytest.raises(ParameterError, match=f"'ratios\\[1\\]'={text}"):
            knob.check("ratios", [2.0, bad])


def test_resolve_device_follows_the_device_knob(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="device='cuda' was requested but no CUDA device is available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")  # cpu stays cpu with a GPU present
    with pytest.raises(ValueError, match="device must be one of 'auto', 'cpu', 'cuda', got 'gpu'"):
        resolve_device("gpu")


def test_the_device_knob_takes_exactly_what_resolve_device_takes(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    knob = device_knob("where the model runs")
    assert knob.choices == DEVICE_CHOICES and knob.help == "where the model runs"
    for choice in ("auto", "cpu"):
        assert resolve_device(knob.check("device", choice)) == torch.device("cpu")
    refusal = "parameter 'device'='gpu' is not allowed; allowed: one of 'auto', 'cpu', 'cuda'"
    with pytest.raises(ParameterError, match=refusal):
        knob.check("device", "gpu")
