"""Chapter 8 at the edges of its parameters: few samples, a short block, a two-point distance beyond the
training documents.  The page must run without warnings, say where it cannot compute something (a
z-score without a standard error, a capped distance), and its sentences must follow from the numbers
the same run printed."""

import re
from pathlib import Path

import pytest
from chapter_runs import execute_smoke, glued, printed, unwrapped

from l2m_utils import book
from l2m_utils.params import PROFILES

STEM = "08_estimator_calibration"
NOTEBOOK = Path(__file__).parents[1] / "notebooks" / f"{STEM}.md"
REL_TOL = 0.10  # COMPARABLE_REL_TOL, as the page prints it ("within 10% of each other")


def _resolve(profile: str):
    """The chapter's parameters cell and the cell that resolves it, for ``profile`` (nothing else runs)."""
    code = [c for c in book.to_notebook(NOTEBOOK).cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(code[first].source, namespace)
    namespace["profile"] = profile
    exec(code[first + 1].source, namespace)
    return namespace["P"]


@pytest.mark.parametrize("profile", PROFILES)
def test_no_profile_asks_for_a_distance_beyond_its_training_documents(profile):
    # the two-point distances are capped below the 8 max_length-token training documents; a profile whose
    # max_distance is always capped (the gpu profile's 4096 at max_length 512 reached only 2048) misleads
    P = _resolve(profile)
    assert P.max_distance <= 8 * P.max_length - 1, (P.max_distance, P.max_length)
    assert P.n_samples >= 32


def test_too_few_samples_for_a_standard_error_fail_first_naming_n_samples(tmp_path):
    with pytest.raises(book.BookError, match=r"ParameterError: parameter 'n_samples'=8 is too small; "
                                             r"allowed: int >= 32"):
        book.execute_chapter(NOTEBOOK, tmp_path / f"{STEM}.ipynb", "smoke", {"n_samples": 8}, book.ROOT)


def _markdown(nb) -> str:
    """The Markdown the code cells displayed (the "What we found" list)."""
    return "\n".join(o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if "text/markdown" in o.get("data", {}))


def _stderr(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")


def _check_z_sentence(text: str, values: dict[str, str]) -> None:
    """ch8_z_within against the printed z-scores of the direct estimator with q = p."""
    rows = re.findall(r"^(.+?), q = p: direct - exact in standard errors: \[([^\]]*)\]", text, flags=re.M)
    assert len(rows) == 2, text
    zs = [x for _, row in rows for x in row.split(", ")]
    finite = [abs(float(x)) for x in zs if x != "no z"]
    sentence = values["ch8_z_within"]
    if finite:
        quoted = re.search(r"\(largest \|z\| = ([\d.]+)\)", sentence)
        assert quoted and float(quoted.group(1)) == pytest.approx(max(finite), abs=6e-3), sentence
        n_within = sum(z < 3 for z in finite)
        assert sentence.startswith("within three standard errors at every") == (n_within == len(finite)), sentence
    assert ("no standard error and no z" in sentence) == ("no z" in zs), (sentence, zs)


def _check_vclub_sentences(md: str, values: dict[str, str]) -> None:
    """ch8_vc_verdict / ch8_vc_counts against the printed per-pair comparison at the largest L."""
    rows = re.findall(r"^\* (.+?), q = (\S+), at L = \d+: vCLUB off by ([+-][\d.]+)%, direct by ([+-][\d.]+)%; "
                      r"\|vCLUB error\| - \|direct error\| = ([+-][\d.]+) ± ([\d.]+) points \(95%\): "
                      r"vCLUB's error is (larger|smaller|comparable)", md, flags=re.M)
    assert len(rows) == 2, md  # one trained model, two sources
    counts = {"larger": 0, "smaller": 0, "comparable": 0}
    for _, _, e_v, e_d, diff, half, verdict in rows:
        e_v, e_d, diff, half = (float(x) for x in (e_v, e_d, diff, half))
        assert diff == pytest.approx(abs(e_v) - abs(e_d), abs=0.11)  # printed to 0.1 points
        small = abs(diff) < REL_TOL * max(abs(e_v), abs(e_d)) - 0.1 or abs(diff) < half - 0.1
        clear = abs(diff) > REL_TOL * max(abs(e_v), abs(e_d)) + 0.1 and abs(diff) > half + 0.1
        if small:
            assert verdict == "comparable", rows
        if clear:
            assert verdict == ("larger" if diff > 0 else "smaller"), rows
        counts[verdict] += 1
    assert values["ch8_vc_counts"].startswith(
        f"its error is larger than the direct one's in {counts['larger']} of 2 trained (source, model) pairs, "
        f"smaller in {counts['smaller']} and comparable in {counts['comparable']} (comparable: the two errors are "
        "within 10% of each other")
    expected = ("is uniformly the more biased estimator" if counts["larger"] == 2 else
                "is about as biased as the direct estimator" if counts["comparable"] == 2 else
                "is never the more biased estimator" if counts["larger"] == 0 else
                "is not uniformly the more biased estimator")
    assert values["ch8_vc_verdict"] == expected


RUNS = {
    "defaults": {},
    # the audited run, with the smallest n_samples now allowed: few samples, short blocks, a distance far
    # beyond the 64-token training documents
    "edge": {"max_length": 8, "max_distance": 65536, "n_samples": 32, "n_boot": 10},
}


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_chapter8_runs_without_warnings_and_its_sentences_follow_from_its_numbers(run, tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    nb, _ = execute_smoke(STEM, RUNS[run], tmp_path)
    text, md, values = printed(nb, "\n"), _markdown(nb), glued(nb)
    text = unwrapped(text)
    assert "Warning" not in _stderr(nb)  # e.g. the RuntimeWarning of a division by a zero standard error
    for name, value in values.items():
        assert not re.search(r"\b(inf|nan)\b", value), (name, value)
    _check_z_sentence(text, values)
    _check_vclub_sentences(md, values)
    cap = re.findall(r"^max_distance = (\d+) is capped at (\d+) \(the training documents have (\d+) tokens\): "
                     r"distances d = 1 \.\.\. (\d+)$", text, flags=re.M)
    if run == "edge":
        assert cap == [("65536", "63", "64", "32")]
        assert len(re.findall(r"exact MI above the noise level at (?:\d+ of 6 distances|no distance)", text)) == 2
    else:
        assert cap == []  # the smoke profile's max_distance fits in its documents
