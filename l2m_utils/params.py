"""Notebook parameters: profiles, per-knob overrides and validation.

Introduced in the book's preface ("How to run the notebooks") and used by the first code cell of
every chapter.  A chapter declares its knobs (name, type, allowed range) and the values of each knob
in the three profiles:

* ``smoke``     -- seconds; what the tests run,
* ``classroom`` -- the default; minutes on a laptop CPU,
* ``gpu``       -- paper-shaped; minutes on one large GPU.

The papermill ``parameters`` cell of a notebook sets ``profile = None`` and every knob to ``None``
("take it from the profile").  The first code cell then calls :func:`resolve_parameters` with
``globals()``; it finds the values that papermill injected, rejects names that are not knobs, fills
the rest from the profile and checks every value.  The default profile is read from the environment
variable ``L2M_PROFILE`` (the test-suite sets it to ``smoke``), else it is ``classroom``.

Running a chapter again in the same kernel ("Run all" after editing the parameters cell) works: the
chapter's own globals left from the earlier run are recognised by the :class:`Parameters` object it
left behind and ignored, with a one-line warning, while a new name close to a knob's is refused as
a likely misspelling (see :func:`resolve_parameters`).  :func:`resolve_device` turns the ``device``
knob of the chapters that run models into a ``torch.device``.
"""

from __future__ import annotations

import difflib
import math
import os
import types
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

if TYPE_CHECKING:  # annotations only: torch is imported where it is used
    import torch

PROFILES: tuple[str, ...] = ("smoke", "classroom", "gpu")
DEFAULT_PROFILE = "classroom"
PROFILE_ENV_VAR = "L2M_PROFILE"

# Names IPython puts into a kernel's namespace; never parameters.
_KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


class ParameterError(ValueError):
    """A notebook parameter is unknown or has an invalid value."""


@dataclass(frozen=True)
class Knob:
    """One notebook parameter.

    ``kind`` is ``int``, ``float``, ``str``, ``bool``, ``list`` (a list of ``item`` values) or ``dict``
    (string keys, ``item`` values); ``low``/``high`` bound numbers (and list items, dict values)
    inclusively; ``choices`` lists the allowed
    values of a string knob; ``allow_none`` lets ``None`` through as a meaningful value;
    ``allow_empty`` lets a list or dict knob be empty (e.g. "no extra runs").  A list knob's values are
    distinct (a repeated length or seed would be run, or counted, twice).  Numbers are finite: NaN
    and infinity are refused even where a bound is missing (a knob that means "no limit" takes
    ``None`` with ``allow_none``).
    """

    kind: type
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    item: type | None = None
    allow_none: bool = False
    allow_empty: bool = False

    def describe(self) -> str:
        """Allowed values in words, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = (f"list of {self.item.__name__}" if self.kind is list and self.item else
                f"dict of str to {self.item.__name__}" if self.kind is dict and self.item else self.kind.__name__)
        bounds = []
        if self.low is not None:
            bounds.append(f">= {self.low:g}")
        if self.high is not None:
            bounds.append(f"<= {self.high:g}")
        text = kind + (" " + " and ".join(bounds) if bounds else "")
        text += " (may be empty)" if self.kind in (list, dict) and self.allow_empty else ""
        return text + (" or None" if self.allow_none else "")

    def check(self, name: str, value: Any) -> Any:
        """Return ``value`` converted to the knob's type, or raise :class:`ParameterError`."""
        if value is None:
            if self.allow_none:
                return None
            raise ParameterError(f"parameter {name!r} is None; allowed: {self.describe()}")
        if self.kind is dict:
            if not isinstance(value, Mapping):
                raise ParameterError(f"parameter {name!r}={value!r} is not a dict; allowed: {self.describe()}")
            if len(value) == 0 and not self.allow_empty:
                raise ParameterError(f"parameter {name!r} is an empty dict; allowed: {self.describe()}")
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise ParameterError(f"parameter {name!r} has a key that is not a string: {bad[0]!r}")
            item_knob = Knob(self.item or float, self.help, self.low, self.high, self.choices)
            return {k: item_knob.check(f"{name}[{k}]", v) for k, v in value.items()}
        if self.kind is list:
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                raise ParameterError(f"parameter {name!r}={value!r} is not a list; allowed: {self.describe()}")
            if len(value) == 0 and not self.allow_empty:
                raise ParameterError(f"parameter {name!r} is an empty list; allowed: {self.describe()}")
            item_knob = Knob(self.item or float, self.help, self.low, self.high, self.choices)
            items = [item_knob.check(f"{name}[{i}]", v) for i, v in enumerate(value)]
            repeated = sorted({v for i, v in enumerate(items) if v in items[:i]}, key=items.index)
            if repeated:
                raise ParameterError(f"parameter {name!r}={value!r} repeats {', '.join(map(repr, repeated))}: "
                                     "give each value once")
            return items
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ParameterError(f"parameter {name!r}={value!r} is not a bool; allowed: True or False")
            return value
        if self.kind in (int, float):
            what = "an integer" if self.kind is int else "a number"
            if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
                value = value.item()  # a numpy scalar (np.int64(3), np.float32(0.5)) as the Python number it holds
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(f"parameter {name!r}={value!r} is not {what}; allowed: {self.describe()}")
            if isinstance(value, float) and not math.isfinite(value):  # YAML .nan/.inf/1e400, papermill inf
                raise ParameterError(f"parameter {name!r}={value!r} is not finite; allowed: {self.describe()}")
            if self.kind is int and isinstance(value, float) and not value.is_integer():
                raise ParameterError(f"parameter {name!r}={value!r} is not an integer; allowed: {self.describe()}")
            try:
                value = self.kind(value)
            except OverflowError:  # an int beyond the largest float
                raise ParameterError(f"parameter {name!r}={value!r} is too large; allowed: {self.describe()}") from None
        elif self.kind is str:
            if not isinstance(value, str):
                raise ParameterError(f"parameter {name!r}={value!r} is not a string; allowed: {self.describe()}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"parameter {name!r}={value!r} is not allowed; allowed: {self.describe()}")
        if self.low is not None and value < self.low:
            raise ParameterError(f"parameter {name!r}={value!r} is too small; allowed: {self.describe()}")
        if self.high is not None and value > self.high:
            raise ParameterError(f"parameter {name!r}={value!r} is too large; allowed: {self.describe()}")
        return value


class Parameters(Mapping[str, Any]):
    """Resolved, validated parameters of one notebook run (read-only; attribute or key access)."""

    def __init__(self, profile: str, values: dict[str, Any], overridden: Sequence[str],
                 namespace_names: Iterable[str] = ()):
        self._profile = profile
        self._values = dict(values)
        self._overridden = tuple(overridden)
        self._namespace_names = frozenset(namespace_names)

    profile = property(lambda self: self._profile, doc="The profile the sizes came from.")
    overridden = property(lambda self: self._overridden, doc="Knobs set explicitly, not by the profile.")
    namespace_names = property(lambda self: self._namespace_names,
                               doc="Plain names the namespace held when these parameters were resolved.")

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter named {name!r}; known: {sorted(self._values)}") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        lines = [f"profile = {self._profile!r}"]
        for key, value in self._values.items():
            mark = "   # overridden" if key in self._overridden else ""
            lines.append(f"{key} = {value!r}{mark}")
        return "\n".join(lines)


def default_profile(environ: Mapping[str, str] | None = None) -> str:
    """The profile used when a notebook is run with ``profile=None``: ``$L2M_PROFILE`` or ``classroom``."""
    environ = os.environ if environ is None else environ
    profile = environ.get(PROFILE_ENV_VAR, "").strip() or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise ParameterError(
            f"environment variable {PROFILE_ENV_VAR}={profile!r} is not a profile; allowed: {', '.join(PROFILES)}"
        )
    return profile


DEVICE_CHOICES = ("auto", "cpu", "cuda")


def device_knob(help: str) -> Knob:
    """The ``device`` knob of a chapter: a string, one of ``DEVICE_CHOICES`` (see :func:`resolve_device`)."""
    return Knob(str, help, choices=DEVICE_CHOICES)


def resolve_device(choice: str) -> "torch.device":
    """The ``device`` knob as a ``torch.device``: ``"auto"`` is CUDA when a CUDA device is available, else
    the CPU; ``"cuda"`` raises ``RuntimeError`` when none is; ``"cpu"`` is the CPU."""
    import torch

    if choice not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICE_CHOICES))}, got {choice!r}")
    has_cuda = choice != "cpu" and torch.cuda.is_available()
    if choice == "cuda" and not has_cuda:
        raise RuntimeError("device='cuda' was requested but no CUDA device is available")
    return torch.device("cuda" if has_cuda else "cpu")


def torch_device(device: Any, name: str = "device", check_available: bool = True) -> "torch.device":
    """``device`` (a ``torch.device``, a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a CUDA
    device index such as ``0``) as a
    ``torch.device``, after checking that torch knows it and, for CUDA (unless not ``check_available``),
    that a CUDA device is there:
    ``ValueError: device 'gpu' is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1')``.  The helpers'
    ``device`` arguments go through it; the notebooks' ``device`` knob goes through :func:`resolve_device`."""
    import torch

    from .checks import is_integer  # here, not at the top: params otherwise needs only the standard library

    if isinstance(device, torch.device):
        dev = device
    elif is_integer(device) and device >= 0:  # a CUDA device index, as torch.device(0) takes it
        dev = torch.device("cuda", int(device))
    else:
        if not isinstance(device, str):
            raise ValueError(f"{name} must be a torch.device, a string such as 'cpu' or 'cuda', or a CUDA device "
                             f"index, got {device!r}")
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ValueError(f"{name} {device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1')") from None
    if check_available and dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{name} {str(dev)!r} was requested but no CUDA device is available")
    return dev


def _user_names(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Plain data bound in a notebook namespace (skips modules, functions, classes and IPython's names)."""
    out = {}
    for name, value in namespace.items():
        if name.startswith("_") or name in _KERNEL_NAMES:
            continue
        if isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)):
            continue
        if callable(value):
            continue
        out[name] = value
    return out


def _likely_misspellings(unknown: Sequence[str], given: Mapping[str, Any], knobs: Mapping[str, Knob]) -> list[str]:
    """``'name' (for 'knob'?)`` for each unknown name that is close to a knob's name (difflib ratio >= 0.8)
    and holds a value that knob accepts: on a re-run, a misspelled parameter rather than a leftover
    of the chapter (whose near-namesakes, like ``samples`` for ``n_samples``, hold other kinds of value)."""
    out = []
    for name in unknown:
        for knob_name in difflib.get_close_matches(name, list(knobs), n=3, cutoff=0.8):
            try:
                knobs[knob_name].check(name, given[name])
            except (ParameterError, TypeError, ValueError):
                continue
            out.append(f"{name!r} (for {knob_name!r}?)")
            break
    return out


def _warn_rerun(unknown: Sequence[str], earlier: Sequence[Parameters]) -> None:
    """Warn, in one line, that names new since an earlier run are ignored (a typo among them included)."""
    seen = frozenset().union(*(p.namespace_names for p in earlier))
    new = [name for name in unknown if name not in seen]
    if not new:
        return  # all were there at the earlier resolution: checked, or reported, then
    warnings.warn(
        f"this kernel already ran the chapter: ignoring {len(new)} name(s) defined since "
        f"({', '.join(new[:3])}{', ...' if len(new) > 3 else ''}), so a misspelled parameter goes unnoticed; "
        "for a clean run use Kernel > Restart and run all",
        stacklevel=3,
    )


def resolve_parameters(
    namespace: Mapping[str, Any],
    knobs: Mapping[str, Knob],
    profiles: Mapping[str, Mapping[str, Any]],
    checks: Sequence[tuple[Callable[[Parameters], bool], str | Callable[[Parameters], str]]] = (),
    environ: Mapping[str, str] | None = None,
) -> Parameters:
    """Resolve a notebook's parameters.

    ``namespace`` is the notebook's ``globals()`` right after the parameters cell (and papermill's
    injected cell): it holds ``profile`` and any knob set by the user; ``None`` means "from the
    profile".  ``profiles`` maps each of :data:`PROFILES` to a value for every knob.  ``checks`` are
    cross-knob conditions ``(predicate, message)`` evaluated on the result; a message is a string or
    a function of the resolved :class:`Parameters` that returns one (to print the actual numbers).

    Raises :class:`ParameterError` naming the parameter and its allowed values when a name is not a
    knob, the profile is unknown or a value is invalid; and, when checks fail, one error listing every
    failed check's message (a predicate that raises counts as failed, with the exception's text) and
    the resolved values.

    Re-run in the same kernel: where ``namespace`` already holds a :class:`Parameters` object (the
    ``P`` of an earlier run of the chapter), names that are not knobs are the chapter's leftovers and
    are ignored; the knobs are still read from the namespace, so the re-executed parameters cell
    decides (``None`` again means the profile's value).  A name close to a knob's (difflib ratio >=
    0.8) that holds a value the knob accepts is refused as a likely misspelling; any other misspelling
    cannot be told from a leftover, so when names appeared since the earlier run a one-line warning
    says so and suggests "Kernel > Restart and run all".  A fresh namespace (a papermill run) has no
    such object and rejects every unknown name.
    """
    missing_profiles = [p for p in PROFILES if p not in profiles]
    if missing_profiles:
        raise ParameterError(f"profile table lacks {missing_profiles}; every chapter defines {PROFILES}")
    for pname, table in profiles.items():
        if pname not in PROFILES:
            raise ParameterError(f"profile table has unknown profile {pname!r}; allowed: {', '.join(PROFILES)}")
        gaps = sorted(set(knobs) - set(table))
        extra = sorted(set(table) - set(knobs))
        if gaps or extra:
            raise ParameterError(f"profile {pname!r} does not match the knobs: missing {gaps}, unknown {extra}")

    given = _user_names(namespace)
    unknown = sorted(set(given) - set(knobs) - {"profile"})
    earlier = [value for value in given.values() if isinstance(value, Parameters)]
    if unknown and not earlier:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
            f"allowed: profile, {', '.join(knobs)} (in a running kernel a name stays defined after "
            "you remove or rename it in the parameters cell: Kernel > Restart and run all)"
        )
    suspects = _likely_misspellings(unknown, given, knobs) if unknown else []
    if suspects:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(suspects)}: this kernel already ran the chapter, but "
            f"{'this name looks' if len(suspects) == 1 else 'these names look'} like a misspelled parameter; "
            "correct it (a name stays defined after you correct it: del it, or Kernel > Restart and run all)")
    if unknown:
        _warn_rerun(unknown, earlier)
    profile = given.get("profile")
    if profile is None:
        profile = default_profile(environ)
    if profile not in PROFILES:
        raise ParameterError(f"parameter 'profile'={profile!r} is not allowed; allowed: {', '.join(PROFILES)}")

    values: dict[str, Any] = {}
    overridden = []
    for name, knob in knobs.items():
        if given.get(name) is not None:
            overridden.append(name)
            values[name] = knob.check(name, given[name])
        else:
            values[name] = knob.check(name, profiles[profile][name])
    params = Parameters(profile, values, overridden, namespace_names=given)
    checks = list(checks)
    failures = failed_checks(params, checks)
    if failures:
        listed = "\n".join(f"  - {text}" for text in failures)
        got = ", ".join([f"profile={profile!r}", *(f"{k}={v!r}" for k, v in params.items())])
        raise ParameterError(f"invalid parameters ({len(failures)} of {len(checks)} check"
                             f"{'s' if len(checks) > 1 else ''} failed):\n{listed}\n  got: {got}")
    return params


def failed_checks(
    params: Parameters,
    checks: Sequence[tuple[Callable[[Parameters], bool], str | Callable[[Parameters], str]]],
) -> list[str]:
    """The message of every check in ``checks`` that ``params`` fail, in order.

    A predicate that raises (say, because another knob has an odd value) fails, and its message says
    what it raised; a callable message is called with ``params``.
    """
    failures = []
    for predicate, message in checks:
        try:
            passed, raised = bool(predicate(params)), ""
        except Exception as err:  # a chapter's lambda: any error means "this check cannot pass"
            passed, raised = False, f" (the check raised {type(err).__name__}: {err})"
        if not passed:
            failures.append(_check_message(message, params) + raised)
    return failures


def _check_message(message: str | Callable[[Parameters], str], params: Parameters) -> str:
    """A check's message: the string, or what the callable returns for ``params``."""
    if not callable(message):
        return str(message)
    try:
        return str(message(params))
    except Exception as err:
        return f"a check failed, and its message function raised {type(err).__name__}: {err}"
