"""Atomic writes and cache keys."""

import numpy as np
import pytest

from l2m_utils import cache


def test_cache_root_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "c"))
    assert cache.cache_dir("scores", "x") == tmp_path / "c" / "scores" / "x"
    assert (tmp_path / "c" / "scores" / "x").is_dir()


def test_settings_key_is_stable_and_order_free():
    a = cache.settings_key({"model": "gpt2", "L": 64})
    assert a == cache.settings_key({"L": 64, "model": "gpt2"})
    assert a != cache.settings_key({"L": 65, "model": "gpt2"})
    assert len(a) == 16


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "r.json"
    cache.atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with cache.atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("interrupted")
    assert target.read_text().strip().startswith("{") and '"a": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"], "no temporary files left behind"


def test_atomic_npz_and_torch(tmp_path):
    cache.atomic_save_npz(tmp_path / "a.npz", x=np.arange(3))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["x"], np.arange(3))
    torch = pytest.importorskip("torch")
    cache.atomic_torch_save({"w": torch.ones(2)}, tmp_path / "ck.pt")
    assert torch.load(tmp_path / "ck.pt")["w"].sum().item() == 2


def test_atomic_files_get_the_usual_permissions(tmp_path):
    """A shared cache must be readable by others when the umask allows it (not mkstemp's 0600)."""
    import os

    old = os.umask(0o022)
    try:
        cache.atomic_write_text(tmp_path / "shared.txt", "x")
        cache.atomic_save_npz(tmp_path / "shared.npz", x=np.arange(2))
    finally:
        os.umask(old)
    for name in ("shared.txt", "shared.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def test_atomic_temporary_names_do_not_collide(tmp_path):
    names = set()
    for _ in range(50):
        with cache.atomic_path(tmp_path / "t.json") as tmp:
            names.add(tmp.name)
            assert not tmp.exists(), "the writer creates the file"
            tmp.write_text("{}")
    assert len(names) == 50 and (tmp_path / "t.json").exists()


def test_atomic_write_reaches_the_disk_before_and_after_the_rename(tmp_path, monkeypatch):
    # the data is fsynced before the new name points at it, and the folder after the rename
    events = []
    real_fsync, real_replace = cache.os.fsync, cache.os.replace
    monkeypatch.setattr(cache.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(cache.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    cache.atomic_write_text(tmp_path / "r.json", "{}")
    assert events == ["fsync", "replace", "fsync"]
    assert (tmp_path / "r.json").read_text() == "{}"


def test_settings_key_refuses_keys_that_json_would_turn_into_strings():
    with pytest.raises(TypeError, match=r"settings keys must be strings, got 1 in settings"):
        cache.settings_key({1: 2})
    with pytest.raises(TypeError, match=r"got 3 in settings\['model'\]\[0\]"):
        cache.settings_key({"model": [{3: "x"}]})
    assert cache.settings_key({"1": 2}) != cache.settings_key({"1": 3})  # string keys are taken


def test_settings_key_hashes_arrays_by_their_bytes():
    # str() of an array is rounded and elided: two matrices that differ far inside, or by 1e-9,
    # printed alike and shared a key
    a = np.random.default_rng(0).random((40, 40))
    b = a.copy()
    b[20, 20] += 0.5
    assert cache.settings_key({"m": a}) != cache.settings_key({"m": b})
    c = np.eye(4)
    assert cache.settings_key({"m": c}) != cache.settings_key({"m": c + 1e-9})
    assert cache.settings_key({"m": c}) == cache.settings_key({"m": c.copy()})
    assert cache.settings_key({"m": c}) != cache.settings_key({"m": c.astype(np.float32)})  # dtype counts
    assert cache.settings_key({"m": c}) != cache.settings_key({"m": c.reshape(2, 8)})  # shape counts
    # numpy scalars enter by value, paths by their text
    assert cache.settings_key({"n": np.int64(5), "x": np.float64(0.5)}) == cache.settings_key({"n": 5, "x": 0.5})
    from pathlib import Path
    assert cache.settings_key({"p": Path("a/b")}) == cache.settings_key({"p": "a/b"})


def test_settings_key_refuses_objects_it_cannot_identify():
    with pytest.raises(TypeError, match="cache settings.*object"):
        cache.settings_key({"thing": object()})
