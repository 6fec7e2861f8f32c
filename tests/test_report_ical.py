"""``srz calendar``: the .ics parses with icalendar, has one all-day event per open
task with an alarm and the clause, and keeps every UID when exported again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from icalendar import Calendar

from tests.srz_cli_helpers import NN_DUAL, NN_PLAIN, srz, srz_json

NOW = "2023-11-01T10:00"


def export(db_url: str, path: Path, *args: str) -> Calendar:
    srz(db_url, "calendar", "--now", NOW, "-o", str(path), *args)
    raw = path.read_bytes()
    lines = raw.split(b"\r\n")
    assert raw.endswith(b"\r\n") and all(b"\n" not in line for line in lines)
    assert all(len(line) <= 75 for line in lines), "lines are folded at 75 octets"
    return Calendar.from_ical(raw)


def events(cal: Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def open_tasks(db_url: str, *args: str) -> list[dict[str, Any]]:
    return srz_json(db_url, "tasks", "--status", "open", "--now", NOW, *args)


def test_city_calendar(loaded: str, tmp_path: Path) -> None:
    cal = export(loaded, tmp_path / "nn.ics", "--city", "南宁市")
    assert str(cal["VERSION"]) == "2.0" and "srz-tracker" in str(cal["PRODID"])
    assert str(cal["X-WR-CALNAME"]) == "“双认证”任务期限 — 南宁市"
    tasks = open_tasks(loaded, "--city", "南宁市")
    evs = events(cal)
    assert len(tasks) == 17 and len(evs) == 17  # the scope extension of 二 included
    for t in tasks:
        e = evs[f"task-{t['id']}@srz-tracker"]
        start, end = e.decoded("DTSTART"), e.decoded("DTEND")
        assert type(start) is dt.date and start.isoformat() == t["due_on"]
        assert end == start + dt.timedelta(days=1)
        assert t["title"] in str(e["SUMMARY"])
        assert (t["institution"] or t["city"]) in str(e["SUMMARY"])
        description = str(e["DESCRIPTION"])
        assert f"srz done {t['id']}" in description and "依据：《实施方案》" in description
        assert "责任：" in description
        assert e.decoded("DTSTAMP") == dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)
        [alarm] = e.walk("VALARM")
        assert str(alarm["ACTION"]) == "DISPLAY"
        assert alarm.decoded("TRIGGER") == dt.timedelta(days=-3, hours=9)  # 3 days before, 09:00
    report = evs[next(f"task-{t['id']}@srz-tracker" for t in tasks if t["obligation"] ==
                      "city-summary-report")]  # fmt: skip
    assert "请各市农业农村局于12月30日前" in str(report["DESCRIPTION"])
    assert "四（二）" in str(report["DESCRIPTION"])
    raw = (tmp_path / "nn.ics").read_bytes()
    assert b"DTSTART;VALUE=DATE:20231230" in raw and b"DTEND;VALUE=DATE:20231231" in raw


def test_reexport_keeps_uids(loaded: str, tmp_path: Path) -> None:
    first = events(export(loaded, tmp_path / "a.ics", "--city", "南宁市"))
    [summary] = open_tasks(loaded, "--city", "南宁市", "--obligation", "city-summary-report")
    [apply] = open_tasks(loaded, "--institution", NN_PLAIN, "--obligation",
                         "certification-application")  # fmt: skip
    srz(
        loaded, "done", str(summary["id"]), "--on", "2023-10-30", "--now", NOW, "--evidence", "文号"
    )
    srz(loaded, "extend", str(apply["id"]), "--to", "2023-12-15", "--reason", "材料补正",
        "--now", NOW)  # fmt: skip
    second = events(export(loaded, tmp_path / "b.ics", "--city", "南宁市"))
    gone = f"task-{summary['id']}@srz-tracker"
    assert set(second) == set(first) - {gone}
    for uid, event in second.items():
        assert str(event["SUMMARY"]) == str(first[uid]["SUMMARY"])
    moved = second[f"task-{apply['id']}@srz-tracker"]
    assert moved.decoded("DTSTART") == dt.date(2023, 12, 15)
    assert int(moved["SEQUENCE"]) == int(first[f"task-{apply['id']}@srz-tracker"]["SEQUENCE"]) + 1
    assert "已延期" in str(moved["DESCRIPTION"])


def test_filters_and_refusals(loaded: str, tmp_path: Path) -> None:
    inst = events(export(loaded, tmp_path / "i.ics", "--institution", NN_DUAL))
    assert len(inst) == len(open_tasks(loaded, "--institution", NN_DUAL)) == 6
    everything = events(export(loaded, tmp_path / "all.ics", "--alarm-days", "7"))
    assert len(everything) == len(open_tasks(loaded)) == 205  # 196 + 9 scope extensions
    some = next(iter(everything.values()))
    assert some.walk("VALARM")[0].decoded("TRIGGER") == dt.timedelta(days=-7, hours=9)
    out = tmp_path / "x.ics"
    srz(loaded, "calendar", "--city", "北京市", "-o", str(out), code=2)
    srz(loaded, "calendar", "--institution", "不存在的机构", "-o", str(out), code=2)
    srz(loaded, "calendar", "--city", "南宁市", "--institution", NN_DUAL, "-o", str(out), code=2)
    srz(loaded, "calendar", "-o", str(tmp_path / "missing" / "x.ics"), code=2)
    srz(loaded, "calendar", code=2)  # -o is required
    assert not out.exists()
