"""On-disk caches and atomic writes.  Introduced in chapter 3 (its tokenizers; chapter 4's checkpoints and scores too).

Expensive steps (tokenizer training, LM scoring, model training) keep their results under one cache
root so that an interrupted run resumes and loses nothing:

* the root is ``$L2M_CACHE`` if set, else ``~/.cache/l2m-book``;
* every file is written to a temporary name in the same directory and then renamed
  (``os.replace`` is atomic on POSIX), so a crash never leaves a half-written file behind;
* keys are short hashes of the settings that determine a result (:func:`settings_key`).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

CACHE_ENV_VAR = "L2M_CACHE"


def cache_root() -> Path:
    """The cache root: ``$L2M_CACHE`` or ``~/.cache/l2m-book`` (created on demand)."""
    root = Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "l2m-book").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    """A sub-directory of the cache root, created on demand."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _settings_value(value: Any) -> Any:
    """JSON stand-in for a setting that ``json`` cannot write: a numpy array by its dtype, shape and
    the SHA-256 of its bytes (``str`` of an array is rounded and elided, so two arrays could share a
    key), a numpy scalar by its Python value, a path by its text.  Anything else is refused."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"ndarray": str(data.dtype), "shape": list(data.shape),
                "sha256": hashlib.sha256(data.tobytes()).hexdigest()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cache settings must be JSON values, numpy arrays or paths; got {type(value).__name__} "
                    f"{value!r:.80}")


def _check_string_keys(value: Any, where: str) -> None:
    """Raise ``TypeError`` naming the first dict key (at any depth) that is not a string."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"settings keys must be strings, got {key!r} in {where}")
            _check_string_keys(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            _check_string_keys(item, f"{where}[{k}]")


def settings_key(settings: dict[str, Any], length: int = 16) -> str:
    """A stable hex key for a dict of settings: SHA-256 of its JSON text (sorted keys).

    Numpy arrays enter by the hash of their bytes and numpy scalars by their value (so
    ``np.int64(5)`` and ``5`` give one key); an object JSON cannot write raises ``TypeError``, and so
    does a dict key that is not a string (JSON would turn ``1`` into ``"1"``, and the two would share a key).
    """
    _check_string_keys(settings, "settings")
    blob = json.dumps(settings, sort_keys=True, default=_settings_value).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


@contextmanager
def atomic_path(target: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it onto ``target``.

    On an exception the temporary file is removed and ``target`` is left untouched.  The temporary
    name is unique (process id and a random token) but not created in advance, so the writer creates
    the file with the usual permissions (umask), as a plain ``open`` of ``target`` would.  The file
    is flushed to disk before the rename and the folder after it, so a power loss or an OS crash
    leaves the old file or the new one, never a name pointing at unwritten data.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}{suffix}.tmp"
    try:
        yield tmp_path
        _fsync(tmp_path)
        os.replace(tmp_path, target)
        _fsync(target.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """``fsync`` a file or a folder, best effort: a file is opened for writing (Windows flushes only
    such handles), and a platform or file system that cannot open or sync a folder (Windows, some
    network and FUSE mounts) is skipped; durability is then what that file system gives."""
    try:
        fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(target: Path | str, text: str) -> None:
    """Write ``text`` to ``target`` atomically (a temporary file renamed over it: never half written)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def atomic_write_json(target: Path | str, obj: Any) -> None:
    """Write ``obj`` as indented JSON with sorted keys to ``target`` atomically (``str`` for what JSON lacks)."""
    atomic_write_text(target, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")


def atomic_save_npz(target: Path | str, **arrays: np.ndarray) -> None:
    """``np.savez`` to ``target`` atomically (``target`` should end in ``.npz``)."""
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:  # a file object: savez adds no suffix
        np.savez(fh, **arrays)


def atomic_torch_save(obj: Any, target: Path | str) -> None:
    """``torch.save`` to ``target`` atomically (checkpoints)."""
    import torch

    with atomic_path(target) as tmp:
        torch.save(obj, tmp)
