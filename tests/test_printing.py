"""l2m_utils.printing: findings printed within the book's output column."""

import numpy as np
import pytest

from l2m_utils import printing as PR


def test_a_line_that_fits_is_kept_with_its_spacing():
    table = "model      L   KL\ngpt2      16   0.1155"
    assert PR.wrap_lines(table, "") == table + "\n"


def test_a_long_line_breaks_between_words_with_a_hanging_indent():
    words = [f"w{i:03d}" for i in range(60)]  # 60 words of 4 characters: 299 characters
    text = PR.wrap_lines(" ".join(words), width=40)
    lines = text.split("\n")
    assert all(len(line) <= 40 for line in lines)
    assert all(line.startswith("    ") for line in lines[1:]) and not lines[0].startswith(" ")
    assert text.split() == words  # nothing lost, nothing broken inside a word
    # first line: 8 words (8·5 - 1 = 39 ≤ 40; 9 words need 44); then 4 + 7·5 - 1 = 38: 7 words a line,
    # so the other 52 words take 8 lines
    assert len(lines) == 9 and len(lines[0].split()) == 8 and len(lines[1].split()) == 7
    assert len(PR.wrap_lines("x " * 10, width=40).split("\n")) == 1


def test_numbers_and_hyphenated_words_are_never_split():
    line = "exponent -0.0312 ± 0.0041 over the supported-distance range 1-2: " * 4
    out = PR.wrap_lines(line, width=30).split("\n")
    assert " ".join(part.strip() for part in out).split() == line.split()


def test_print_wrapped_prints_each_finding(capsys):
    PR.print_wrapped("short", "a " * 60)
    out = capsys.readouterr().out.rstrip("\n").split("\n")
    assert out[0] == "short" and len(out) == 3 and max(map(len, out)) <= PR.OUTPUT_WIDTH


def test_a_width_with_no_room_after_the_indent_is_refused():
    with pytest.raises(ValueError, match="width=10 leaves no room"):
        PR.wrap_lines("text", width=10)


@pytest.mark.parametrize("x, spec, expected", [
    (-0.00001, ".4f", "0.0000"),      # format() would print -0.0000
    (-0.00001, "+.3f", "+0.000"),     # an explicit sign stays, as a plus
    (-0.0, ".1f", "0.0"),
    (-0.06, ".1f", "-0.1"),           # a value that does not round to zero keeps its sign
    (0.0004, "+.3f", "+0.000"),
    (-1234.4, ",.0f", "-1,234"),
    (-0.0004, ",.2f", "0.00"),
    (-3e-7, ".2g", "-3e-07"),         # general format: not zero, sign kept
    (float("nan"), ".2f", "nan"),
    (float("-inf"), ".1f", "-inf"),
    (-0.00001, "*>8.3f", "***0.000"),  # a fill character is not part of the number
    (-0.00001, "0>7.2f", "0000.00"),
    (-0.5, "*>8.3f", "**-0.500"),
])
def test_number_drops_the_sign_of_a_rounded_zero_only(x, spec, expected):
    assert PR.number(x, spec) == expected


@pytest.mark.parametrize("x, spec, error", [
    (0.1, ".1%", ValueError), (0.1, ".2e", ValueError), ("0.1", ".2f", TypeError), (True, ".1f", TypeError),
])
def test_number_refuses_formats_and_values_it_cannot_check(x, spec, error):
    with pytest.raises(error, match="number:"):
        PR.number(x, spec)


def test_with_interval_formats_an_estimate_and_its_interval_alike():
    assert PR.with_interval(0.71, (0.62, 0.8), ".2f") == "0.71 [0.62, 0.80]"
    assert PR.with_interval(-0.001, (-0.0004, 0.3), "+.2f") == "+0.00 [+0.00, +0.30]"  # no "-0.00"
    assert PR.with_interval(np.float64(1.5), np.array([1.0, 2.0]), ".1f") == "1.5 [1.0, 2.0]"
