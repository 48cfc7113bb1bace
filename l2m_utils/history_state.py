"""History-state sizes of autoregressive architectures and the L²M condition.  Introduced in chapter 2.

The *history state* of an autoregressive model (paper Def. 5.1) is the smallest set of latent numbers
that carries everything the model has read into its predictions of what comes next.  This module
counts those numbers ("state scalars") for a model configuration after it has consumed ``position``
tokens:

* transformer (causal attention): every past key and value vector of every layer,
  ``2 * n_layer * n_kv_heads * head_dim * position`` -- it grows linearly;
* sliding-window attention with window ``w``: only the last ``min(position, w)`` keys/values;
* Mamba-1 (selective SSM), per layer: ``d_inner * d_state`` SSM state plus ``d_inner * (d_conv - 1)``
  inputs held by the causal convolution -- independent of ``position``;
* Mamba-2 (SSD), per layer: ``n_heads * head_dim * d_state`` SSM state plus
  ``(d_inner + 2 * n_groups * d_state) * (d_conv - 1)`` convolution state.

The convolution counts are the minimal state (the last ``d_conv - 1`` inputs); library caches such as
Hugging Face's Mamba-2 cache keep ``d_conv`` columns per channel, one more than needed.

Convention: ``history_state(model, position)`` is the state *after* reading ``position`` tokens, i.e.
the paper's ``z_{position+1}`` (the paper's ``z_l`` summarises ``x_{1:l-1}``, and ``x_l`` enters the
prediction separately).  For a bipartite cut at ``l = L/2`` the state that must carry
``X = W_{1:l}`` into the prediction of ``Y = W_{l+1:L}`` is ``history_state(model, l)``.

Accepted models: ``transformers`` configuration objects (``GPT2Config``, ``LlamaConfig``,
``MistralConfig``, ``MambaConfig``, ``Mamba2Config``; only the configuration classes are used, no
weights), any object with a method ``history_state_size(position) -> HistoryState``, or a plain-dict
spec (see :func:`history_state`).  :func:`published_config` builds configurations of published
architectures from their published hyperparameters, offline.

The second half holds the paper's fitted power laws for the bipartite mutual information
``I(L) = A * L**beta`` (nats) and the comparison of a fixed state with that law.  The fits are **read
from the paper's figures and approximate**.  Turning a number of state scalars into nats needs an
assumption: a constant ``c`` = the most nats one state scalar can carry (Theorem 5.2's constant).
It is a parameter everywhere, never a fact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .checks import integer, integers, is_real, listed

# --------------------------------------------------------------------------------------------------
# the result type
# --------------------------------------------------------------------------------------------------

#: Bytes per scalar for :meth:`HistoryState.nbytes`.
DTYPE_BYTES: dict[str, float] = {
    "float64": 8,
    "float32": 4,
    "bfloat16": 2,
    "float16": 2,
    "float8": 1,
    "int8": 1,
    "int4": 0.5,
}


@dataclass(frozen=True)
class HistoryState:
    """Number of history-state scalars of a model at one position.

    ``total`` = ``sum(per_layer)``; ``kind`` is ``"kv-cache"``, ``"sliding-window kv-cache"`` or
    ``"recurrent"``; ``detail`` spells out the formula with the numbers used.
    """

    total: int
    per_layer: tuple[int, ...]
    kind: str
    detail: str

    def __post_init__(self) -> None:
        if any((not isinstance(n, (int, np.integer))) or n < 0 for n in self.per_layer):
            raise ValueError(f"per-layer state sizes must be non-negative integers, got {self.per_layer}")
        if int(self.total) != sum(int(n) for n in self.per_layer):
            raise ValueError(f"total {self.total} does not equal the sum of per_layer {sum(self.per_layer)}")

    @property
    def n_layer(self) -> int:
        """Number of layers that hold state."""
        return len(self.per_layer)

    def nbytes(self, dtype: str = "bfloat16") -> float:
        """Memory of the state stored at ``dtype`` (a key of :data:`DTYPE_BYTES`): total * bytes/scalar."""
        if dtype not in DTYPE_BYTES:
            raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)}")
        return self.total * DTYPE_BYTES[dtype]


def _check_position(position: Any) -> int:
    return integer(position, "position", minimum=0, why="the number of tokens already read")


def _positive_int(value: Any, name: str, owner: str) -> int:
    return integer(value, f"{owner}: {name}")


# --------------------------------------------------------------------------------------------------
# per-family formulas
# --------------------------------------------------------------------------------------------------

def attention_state(
    n_layer: int, n_kv_heads: int, head_dim: int, position: int, window: int | None = None, name: str = "attention"
) -> HistoryState:
    """KV cache: per layer ``2 * n_kv_heads * head_dim * min(position, window)`` (window None = full)."""
    position = _check_position(position)
    n_layer = _positive_int(n_layer, "n_layer", name)
    n_kv_heads = _positive_int(n_kv_heads, "n_kv_heads", name)
    head_dim = _positive_int(head_dim, "head_dim", name)
    if window is None:
        kept, kind, wtxt = position, "kv-cache", f"l={position}"
    else:
        window = _positive_int(window, "window", name)
        kept, kind, wtxt = min(position, window), "sliding-window kv-cache", f"min(l={position}, w={window})"
    layer = 2 * n_kv_heads * head_dim * kept
    detail = f"{name}: 2 (K,V) x {n_layer} layers x {n_kv_heads} kv heads x {head_dim} head_dim x {wtxt}"
    return HistoryState(n_layer * layer, (layer,) * n_layer, kind, detail)


def recurrent_state(n_layer: int, per_layer: int, detail: str) -> HistoryState:
    """A fixed recurrent state: ``per_layer`` scalars in each of ``n_layer`` layers, any position."""
    n_layer = _positive_int(n_layer, "n_layer", detail)
    per_layer = integer(per_layer, f"{detail}: state per layer", minimum=0)
    return HistoryState(n_layer * per_layer, (per_layer,) * n_layer, "recurrent", detail)


def mamba_state(n_layer: int, d_inner: int, d_state: int, d_conv: int, name: str = "mamba") -> HistoryState:
    """Mamba-1, per layer: ``d_inner * d_state`` (SSM) + ``d_inner * (d_conv - 1)`` (conv inputs).

    Every size must be a positive integer (``d_conv = 1``: no convolution state).
    """
    n_layer = _positive_int(n_layer, "n_layer", name)
    d_inner = _positive_int(d_inner, "d_inner", name)
    d_state = _positive_int(d_state, "d_state", name)
    d_conv = _positive_int(d_conv, "d_conv", name)
    ssm, conv = d_inner * d_state, d_inner * (d_conv - 1)
    detail = (f"{name}: {n_layer} layers x (d_inner {d_inner} x d_state {d_state} = {ssm} SSM"
              f" + d_inner {d_inner} x (d_conv {d_conv} - 1) = {conv} conv)")
    return recurrent_state(n_layer, ssm + conv, detail)


def mamba2_state(
    n_layer: int, n_heads: int, head_dim: int, d_state: int, n_groups: int, d_conv: int, name: str = "mamba2"
) -> HistoryState:
    """Mamba-2, per layer: ``n_heads*head_dim*d_state`` + ``(d_inner + 2*n_groups*d_state)*(d_conv-1)``.

    Every size must be a positive integer (``d_conv = 1``: no convolution state).
    """
    n_layer = _positive_int(n_layer, "n_layer", name)
    n_heads = _positive_int(n_heads, "n_heads", name)
    head_dim = _positive_int(head_dim, "head_dim", name)
    d_state = _positive_int(d_state, "d_state", name)
    n_groups = _positive_int(n_groups, "n_groups", name)
    d_conv = _positive_int(d_conv, "d_conv", name)
    d_inner = n_heads * head_dim
    ssm = n_heads * head_dim * d_state
    conv = (d_inner + 2 * n_groups * d_state) * (d_conv - 1)
    detail = (f"{name}: {n_layer} layers x ({n_heads} heads x {head_dim} head_dim x {d_state} d_state = {ssm} SSM"
              f" + ({d_inner} + 2 x {n_groups} groups x {d_state}) x ({d_conv} - 1) = {conv} conv)")
    return recurrent_state(n_layer, ssm + conv, detail)


# --------------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------------

def _from_hf_config(config: Any, position: int) -> HistoryState | None:
    """State of a ``transformers`` config object, or None if its class is not one we support."""
    try:
        import transformers as tf
    except ImportError:  # pragma: no cover - transformers is a dependency
        return None
    cls = type(config).__name__
    if isinstance(config, tf.GPT2Config):
        # n_head heads of n_embd / n_head dimensions: K and V are n_embd numbers per token and layer.
        if config.n_embd % config.n_head:
            raise ValueError(f"{cls}: n_embd={config.n_embd} is not divisible by n_head={config.n_head}")
        return attention_state(config.n_layer, config.n_head, config.n_embd // config.n_head, position, None, cls)
    if isinstance(config, (tf.MistralConfig, tf.LlamaConfig)):
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        kv = getattr(config, "num_key_value_heads", None) or heads
        window = getattr(config, "sliding_window", None) if isinstance(config, tf.MistralConfig) else None
        return attention_state(config.num_hidden_layers, kv, head_dim, position, window, cls)
    if isinstance(config, tf.Mamba2Config):
        return mamba2_state(config.num_hidden_layers, config.num_heads, config.head_dim, config.state_size,
                            config.n_groups, config.conv_kernel, cls)
    if isinstance(config, tf.MambaConfig):
        d_inner = getattr(config, "intermediate_size", None) or config.expand * config.hidden_size
        return mamba_state(config.num_hidden_layers, d_inner, config.state_size, config.conv_kernel, cls)
    return None


_SPEC_KEYS = {
    "attention": ({"kind", "n_layer", "n_kv_heads", "head_dim"}, {"window", "name"}),
    "recurrent": ({"kind", "n_layer", "state_per_layer"}, {"name"}),
}


def _from_spec(spec: Mapping[str, Any], position: int) -> HistoryState:
    kind = spec.get("kind")
    if kind not in _SPEC_KEYS:
        raise ValueError(f"dict spec needs 'kind' in {sorted(_SPEC_KEYS)}, got {kind!r}")
    required, optional = _SPEC_KEYS[kind]
    missing, extra = sorted(required - set(spec)), sorted(set(spec) - required - optional)
    if missing or extra:
        raise ValueError(f"{kind} spec: missing keys {missing}, unknown keys {extra}")
    name = spec.get("name", f"{kind} spec")
    if kind == "attention":
        return attention_state(spec["n_layer"], spec["n_kv_heads"], spec["head_dim"], position,
                               spec.get("window"), name)
    _check_position(position)
    return recurrent_state(spec["n_layer"], spec["state_per_layer"],
                           f"{name}: {spec['n_layer']} layers x {spec['state_per_layer']} state scalars")


def history_state(model: Any, position: int) -> HistoryState:
    """Number of history-state scalars of ``model`` after it has read ``position`` tokens.

    ``model`` is one of

    * a ``transformers`` config: ``GPT2Config``, ``LlamaConfig``, ``MistralConfig`` (sliding window),
      ``MambaConfig``, ``Mamba2Config``;
    * any object with ``history_state_size(position) -> HistoryState`` (our own models);
    * a dict ``{"kind": "attention", "n_layer", "n_kv_heads", "head_dim", ["window"], ["name"]}`` or
      ``{"kind": "recurrent", "n_layer", "state_per_layer", ["name"]}``;
    * a name of :data:`PUBLISHED_ARCHITECTURES` (string).

    Raises ``ValueError`` for a bad position (not an int >= 0) and ``TypeError`` naming the class of
    an unsupported model.
    """
    position = _check_position(position)
    if isinstance(model, str):
        model = published_config(model)
    if isinstance(model, Mapping):
        return _from_spec(model, position)
    method: Callable[[int], Any] | None = getattr(model, "history_state_size", None)
    if callable(method):
        out = method(position)
        if not isinstance(out, HistoryState):
            raise TypeError(f"{type(model).__name__}.history_state_size must return a HistoryState, "
                            f"got {type(out).__name__}")
        return out
    out = _from_hf_config(model, position)
    if out is None:
        raise TypeError(
            f"unsupported model configuration {type(model).__module__}.{type(model).__name__}; supported: "
            "GPT2Config, LlamaConfig, MistralConfig, MambaConfig, Mamba2Config, an object with "
            "history_state_size(position), a dict spec, or a published name"
        )
    return out


# --------------------------------------------------------------------------------------------------
# published architectures (hyperparameters from the model cards / papers; built offline)
# --------------------------------------------------------------------------------------------------

_GPT2 = {  # n_layer, n_embd, n_head  (Radford et al. 2019; HF gpt2, gpt2-medium, -large, -xl)
    "gpt2-small": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}
_LLAMA31 = {  # layers, hidden, heads, kv heads, ffn  (Llama 3 herd paper, Table 3; head_dim 128)
    "llama-3.1-8b": (32, 4096, 32, 8, 14336),
    "llama-3.1-70b": (80, 8192, 64, 8, 28672),
    "llama-3.1-405b": (126, 16384, 128, 8, 53248),
}
_MAMBA = {  # n_layer, d_model  (state-spaces/mamba-*: d_state 16, expand 2, d_conv 4)
    "mamba-130m": (24, 768),
    "mamba-370m": (48, 1024),
    "mamba-790m": (48, 1536),
    "mamba-1.4b": (48, 2048),
    "mamba-2.8b": (64, 2560),
}
_MAMBA2 = {  # n_layer, d_model  (state-spaces/mamba2-*: d_state 128, expand 2, headdim 64, ngroups 1, d_conv 4)
    "mamba2-130m": (24, 768),
    "mamba2-370m": (48, 1024),
    "mamba2-780m": (48, 1536),
    "mamba2-1.3b": (48, 2048),
    "mamba2-2.7b": (64, 2560),
}

#: Names accepted by :func:`published_config`.
PUBLISHED_ARCHITECTURES: tuple[str, ...] = (
    *_GPT2, *_LLAMA31, "mistral-7b-v0.1", *_MAMBA, *_MAMBA2,
)


def published_config(name: str) -> Any:
    """A ``transformers`` config of a published architecture, built offline from its hyperparameters.

    Names: see :data:`PUBLISHED_ARCHITECTURES` (case-insensitive).  Unknown names raise ``ValueError``
    listing the known ones.  Only the numbers that fix the history state are meant to be exact;
    vocabulary sizes are the published ones, other fields keep ``transformers`` defaults.
    """
    import transformers as tf

    key = str(name).strip().lower()
    if key in _GPT2:
        n_layer, n_embd, n_head = _GPT2[key]
        return tf.GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=1024, vocab_size=50257)
    if key in _LLAMA31:
        layers, hidden, heads, kv, ffn = _LLAMA31[key]
        return tf.LlamaConfig(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                              num_key_value_heads=kv, head_dim=128, intermediate_size=ffn, vocab_size=128256,
                              max_position_embeddings=131072)
    if key == "mistral-7b-v0.1":
        return tf.MistralConfig(num_hidden_layers=32, hidden_size=4096, num_attention_heads=32,
                                num_key_value_heads=8, head_dim=128, intermediate_size=14336, vocab_size=32000,
                                max_position_embeddings=32768, sliding_window=4096)
    if key in _MAMBA:
        n_layer, d_model = _MAMBA[key]
        return tf.MambaConfig(num_hidden_layers=n_layer, hidden_size=d_model, state_size=16, expand=2,
                              conv_kernel=4, vocab_size=50280)
    if key in _MAMBA2:
        n_layer, d_model = _MAMBA2[key]
        return tf.Mamba2Config(num_hidden_layers=n_layer, hidden_size=d_model, state_size=128, expand=2,
                               head_dim=64, num_heads=2 * d_model // 64, n_groups=1, conv_kernel=4,
                               vocab_size=50288)
    raise ValueError(f"unknown architecture {name!r}; known: {', '.join(PUBLISHED_ARCHITECTURES)}")


# --------------------------------------------------------------------------------------------------
# the paper's power law and the L²M comparison
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaperPowerLaw:
    """A fitted law I^BP_{L/2;L} = A * L**beta (nats) of the bipartite MI at an equal split."""

    A: float
    beta: float
    data: str
    estimator: str
    note: str = "read from the paper's figures (approximate)"

    def __call__(self, length: Any) -> Any:
        return bipartite_mi_power_law(length, self.A, self.beta)

    @property
    def label(self) -> str:
        """The law as text: data, estimator and A L^beta."""
        return f"{self.data}, {self.estimator}: {self.A:g} L^{self.beta:g}"


#: The paper's fits (LLaMA 3.1 405B as density estimator), read from its figures: approximate.
PG19_DIRECT = PaperPowerLaw(2.27, 0.76, "PG19", "direct")
PG19_VCLUB = PaperPowerLaw(3.26, 0.71, "PG19", "vCLUB")
WIKIPEDIA_DIRECT = PaperPowerLaw(4.50, 0.66, "Wikipedia", "direct")
WIKIPEDIA_VCLUB = PaperPowerLaw(7.01, 0.60, "Wikipedia", "vCLUB")
PAPER_FITS: dict[str, PaperPowerLaw] = {
    "pg19-direct": PG19_DIRECT,
    "pg19-vclub": PG19_VCLUB,
    "wikipedia-direct": WIKIPEDIA_DIRECT,
    "wikipedia-vclub": WIKIPEDIA_VCLUB,
}


def _check_law(A: float, beta: float) -> None:
    if not (math.isfinite(A) and A > 0):
        raise ValueError(f"power-law prefactor A must be a positive finite number, got {A!r}")
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"power-law exponent beta must be a positive finite number, got {beta!r}")


def bipartite_mi_power_law(length: Any, A: float, beta: float) -> Any:
    """I(L) = A * L**beta in nats, for block lengths L > 0 (scalar or array)."""
    _check_law(A, beta)
    L = np.asarray(length, dtype=np.float64)
    if not np.all(np.isfinite(L)) or np.any(L <= 0):
        raise ValueError("block lengths L must be positive and finite")
    out = A * L**beta
    return float(out) if out.ndim == 0 else out


def _check_capacity(nats_per_scalar: float, log_vocab: float) -> None:
    if not (is_real(nats_per_scalar) and math.isfinite(nats_per_scalar) and nats_per_scalar > 0):
        raise ValueError(f"nats_per_scalar must be positive and finite, got {nats_per_scalar!r}")
    if not (math.isfinite(log_vocab) and log_vocab >= 0):
        raise ValueError(f"log_vocab must be >= 0 (it is log M in nats), got {log_vocab!r}")


def state_capacity(state_size: float, nats_per_scalar: float, log_vocab: float = 0.0) -> float:
    """Theorem 5.2's bound on the MI a state can carry: ``c * dim(z) + log M`` (nats).

    ``c = nats_per_scalar`` is an assumption (how many nats one scalar can hold, e.g. ~1 for a
    well-used low-precision number); ``log_vocab = log M`` accounts for the token at the cut.
    """
    _check_capacity(nats_per_scalar, log_vocab)
    if not (is_real(state_size) and math.isfinite(state_size) and state_size >= 0):
        raise ValueError(f"state_size must be finite and >= 0, got {state_size!r}")
    return nats_per_scalar * float(state_size) + log_vocab


def crossing_length(state_size: float, A: float, beta: float, nats_per_scalar: float, log_vocab: float = 0.0) -> float:
    """Block length L* beyond which a **fixed** state cannot carry A * L**beta nats.

    Solves ``A * L**beta = c * state_size + log_vocab``:  ``L* = ((c * s + log M) / A) ** (1 / beta)``.
    For L > L* the L²M condition fails for that state size and that ``c`` (an assumption).
    """
    _check_law(A, beta)
    capacity = state_capacity(state_size, nats_per_scalar, log_vocab)
    return (capacity / A) ** (1.0 / beta)


def l2m_margin(
    model: Any, length: int, A: float, beta: float, nats_per_scalar: float, log_vocab: float = 0.0
) -> float:
    """Capacity minus requirement at block length L, in nats (negative: the L²M condition fails).

    ``c * dim(z_l) + log M - A * L**beta`` with l = L//2: the bound of the L²M theorem at an equal
    cut, where z_l is the state built from the l - 1 tokens before x_l (``history_state`` at
    position l - 1) and log M pays for x_l itself.
    """
    length = _check_position(length)
    if length < 2:
        raise ValueError(f"block length must be >= 2 for an equal split, got {length}")
    state = history_state(model, length // 2 - 1).total
    return state_capacity(state, nats_per_scalar, log_vocab) - bipartite_mi_power_law(length, A, beta)


def kabatjanskii_levenshtein_rate(eps: float) -> float:
    """Exponent f(eps) of the Kabatjanskii-Levenshtein bound, in nats per dimension.

    At most ``exp(d * (f(eps) + o(1)))`` unit vectors in R^d have pairwise ``|cos| <= eps``
    (spherical code with angle theta = arccos(eps)); with ``s = sin(theta) = sqrt(1 - eps^2)``,
    ``f = (1+s)/(2s) log((1+s)/(2s)) - (1-s)/(2s) log((1-s)/(2s))``.  f -> 0 as eps -> 0.
    Used by the second proof of Theorem 5.2 (chapter 2) as the constant C.
    """
    if not (is_real(eps) and 0.0 < eps < 1.0):
        raise ValueError(f"overlap eps must lie in (0, 1), got {eps!r}")
    s = math.sqrt(1.0 - eps * eps)
    a, b = (1.0 + s) / (2.0 * s), (1.0 - s) / (2.0 * s)
    return a * math.log(a) - (b * math.log(b) if b > 0 else 0.0)


def history_state_table(names: tuple[str, ...] | list[str], positions: tuple[int, ...] | list[int]) -> list[dict]:
    """Rows ``{"model", "kind", "n_layer", "per_layer@<pos>", "<pos>": total, ...}`` for published names."""
    names = listed(names, "names", "model names")
    positions = integers(positions, "positions", "position", minimum=0)
    if not names:
        raise ValueError("names must name at least one published model, got none")
    rows = []
    for name in names:
        cfg = published_config(name)
        row: dict[str, Any] = {"model": name}
        states = [history_state(cfg, p) for p in positions]
        row["kind"] = states[0].kind
        row["n_layer"] = states[0].n_layer
        for p, s in zip(positions, states):
            row[p] = s.total
        rows.append(row)
    return rows
