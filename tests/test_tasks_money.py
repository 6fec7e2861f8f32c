"""Expenses, the satisfaction indicator and incidents: strict input, refusals that
exit 2 and write nothing, one audit event per write."""

from __future__ import annotations

from decimal import Decimal

import pytest

from srz_tracker.errors import UsageError
from srz_tracker.tasks.money import parse_amount, parse_share
from tests.srz_cli_helpers import row_counts, srz, srz_json

NOW = "2023-11-01T10:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.5", "12.50"), ("12.50", "12.50"), ("40", "40.00"), ("0.01", "0.01"), ("8万元", "8.00")],
)
def test_amounts(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["0", "-3", "0.00", "abc", "", "1.234", "NaN", "Infinity", "1e20"])
def test_bad_amounts(text: str) -> None:
    with pytest.raises(UsageError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("92", "0.92"),
        ("92%", "0.92"),
        ("92％", "0.92"),
        ("0.92", "0.92"),
        ("88.5%", "0.885"),
        ("100", "1"),
        ("1", "1"),
        ("0", "0"),
        ("0%", "0"),
        ("91.666", "0.9167"),
    ],
)
def test_shares(text: str, expected: str) -> None:
    assert parse_share(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["101", "100.5%", "-1", "abc", "92 %%", "inf"])
def test_bad_shares(text: str) -> None:
    with pytest.raises(UsageError):
        parse_share(text)


def test_refusals_exit_2_and_write_nothing(loaded: str) -> None:
    before = row_counts(loaded)
    base = ["expense", "add", "--city", "南宁市", "--now", NOW]

    def refused(*args: str) -> str:
        result = srz(loaded, *args, code=2)
        return result.output

    out = refused(*base, "--amount", "5", "--category", "餐费", "--on", "2023-05-01")
    for allowed in ("training", "业务培训", "reagents", "采购试剂", "equipment", "检测设备"):
        assert allowed in out
    assert "consumables" in out and "maintenance" in out and "维护仪器设备" in out
    for amount in ("0", "-5", "abc", "1.234"):
        assert "金额" in refused(*base, "--amount", amount, "--category", "training", "--on",
                                 "2023-05-01")  # fmt: skip
    out = refused(*base, "--amount", "5", "--category", "training", "--on", "2023-02-30")
    assert "2023-02-30" in out
    refused(*base, "--amount", "5", "--category", "training", "--on", "2023-13-01")
    refused(*base, "--amount", "5", "--category", "training", "--on", "2023-12-01")  # future
    out = refused("expense", "add", "--city", "北京市", "--amount", "5", "--category", "training",
                  "--on", "2023-05-01", "--now", NOW)  # fmt: skip
    assert "北京市" in out and "南宁市" in out
    refused("indicator", "set", "--city", "北京市", "--year", "2023", "satisfaction", "92")
    refused("indicator", "set", "--city", "南宁市", "--year", "2023", "satisfaction", "120")
    refused("indicator", "set", "--city", "南宁市", "--year", "2023", "satisfaction", "很好")
    refused("indicator", "set", "--city", "南宁市", "--year", "2023", "happiness", "92")
    refused("incident", "add", "--city", "北京市", "--on", "2023-05-01", "--note", "x")
    refused("incident", "add", "--city", "南宁市", "--on", "2023-02-30", "--note", "x")
    refused("incident", "add", "--city", "南宁市", "--on", "2023-05-01", "--note", "  ")
    assert row_counts(loaded) == before


def test_writes_with_audit(loaded: str) -> None:
    before = row_counts(loaded)
    srz(loaded, "expense", "add", "--city", "南宁市", "--amount", "12.5", "--category", "training",
        "--on", "2023-05-10", "--note", "实操培训班[bold]", "--now", NOW)  # fmt: skip
    srz(loaded, "expense", "add", "--city", "柳州市", "--amount", "3", "--category", "耗材",
        "--on", "2023-06-01", "--now", NOW)  # fmt: skip
    srz(loaded, "expense", "add", "--city", "南宁市", "--amount", "1", "--category", "Reagents",
        "--on", "2022-12-31", "--now", NOW)  # fmt: skip
    rows = srz_json(loaded, "expense", "list", "--year", "2023")
    got = [(r["city"], r["amount_wan"], r["category"], r["category_name"], r["year"]) for r in rows]
    assert got == [
        ("南宁市", 12.5, "training", "业务培训", 2023),
        ("柳州市", 3.0, "consumables", "耗材", 2023),
    ]  # fmt: skip
    assert [r["year"] for r in srz_json(loaded, "expense", "list", "--city", "南宁市")] == [
        2022,
        2023,
    ]
    out = srz(loaded, "expense", "list", "--city", "南宁市").stdout
    assert "合计 13.50 万元" in out and "实操培训班[bold]" in out  # notes are not markup

    out = srz(loaded, "indicator", "set", "--city", "南宁市", "--year", "2023", "satisfaction",
              "92").stdout  # fmt: skip
    assert "92.00%" in out
    out = srz(loaded, "indicator", "set", "--city", "南宁市", "--year", "2023", "satisfaction",
              "0.885").stdout  # fmt: skip
    assert "88.50%" in out and "原为 92.00%" in out

    srz(loaded, "incident", "add", "--city", "桂林市", "--on", "2023-08-03", "--note", "农残超标",
        "--now", NOW)  # fmt: skip
    incidents = srz_json(loaded, "incident", "list", "--year", "2023")
    assert [(i["city"], i["occurred_on"], i["note"]) for i in incidents] == [
        ("桂林市", "2023-08-03", "农残超标")
    ]
    assert srz_json(loaded, "incident", "list", "--year", "2022") == []

    after = row_counts(loaded)
    assert after["expenses"] - before["expenses"] == 3
    assert after["indicators"] - before["indicators"] == 1  # replaced, not added
    assert after["incidents"] - before["incidents"] == 1
    actions = [e["action"] for e in srz_json(loaded, "log")]
    assert actions.count("expense") == 3
    assert actions.count("indicator") == 2
    assert actions.count("incident") == 1
    assert after["audit_events"] - before["audit_events"] == 6
