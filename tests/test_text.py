"""The formatting helpers: one function per percentage scale, the same text as the
report and the emails have always shown."""

from __future__ import annotations

from srz_tracker.text import pct_of_fraction, pct_of_percent, pct_target_of_fraction, wan


def test_fractions_show_one_decimal() -> None:
    assert pct_of_fraction(0.925) == "92.5%"
    assert pct_of_fraction(1.0) == "100.0%"
    assert pct_of_fraction(0.0) == "0.0%"
    assert pct_of_fraction(0.375) == "37.5%"
    assert pct_of_fraction(None) == "—"


def test_targets_show_a_decimal_only_when_they_have_one() -> None:
    assert pct_target_of_fraction(1.0) == "100%"
    assert pct_target_of_fraction(0.9) == "90%"
    assert pct_target_of_fraction(0.8) == "80%"
    assert pct_target_of_fraction(0.925) == "92.5%"
    assert pct_target_of_fraction(None) == "—"


def test_percentages_drop_a_zero_decimal() -> None:
    assert pct_of_percent(62.5) == "62.5%"
    assert pct_of_percent(100.0) == "100%"
    assert pct_of_percent(200 / 3) == "66.7%"
    assert pct_of_percent(0) == "0%"
    assert pct_of_percent(99.96) == "100%"


def test_wan_has_two_decimals_and_separators() -> None:
    assert wan(40) == "40.00"
    assert wan(60.5) == "60.50"
    assert wan(1234.5) == "1,234.50"
    assert wan(None) == "—"
