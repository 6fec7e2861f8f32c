"""More sample contexts for ``srz templates check`` and the tests (the main corpus is
``samples``): the closing summary of a plan year, and any sample as it reads when the
web pages' address is configured (``linked``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

_UTC = dt.UTC


def year_closed_samples(plan: dict[str, Any], office: dict[str, Any]) -> list[dict[str, Any]]:
    cities = [
        _year_row("南宁市", tasks=21, done=18, on_time=15, late=3),
        _year_row("柳州市", tasks=26, done=26, on_time=26, late=0),
        _year_row("来宾市", tasks=0, done=0, on_time=0, late=0),
    ]
    own = _year_row("自治区本级", tasks=1, done=1, on_time=1, late=0)
    total = _year_row("全区合计", tasks=48, done=45, on_time=42, late=3)
    closing = {
        "kind": "year_closed",
        "plan": plan,
        "recipient": office,
        "year": 2023,
        "closed_on": dt.date(2024, 4, 1),
        "closes_on": dt.date(2024, 3, 31),
        "how": "date",
        "closed_by": "system",
        "cities": cities,
        "region_own": own,
        "total": total,
        "attachment_name": "2023年县级质检机构“双认证”建设项目绩效自评表.xlsx",
        "generated_at": dt.datetime(2024, 4, 1, 1, 30, tzinfo=_UTC),
    }
    by_hand = {
        **closing,
        "recipient": {"name": "杨秀娟", "email": "gxnyjgc@163.com", "role": "office"},
        "closed_on": dt.date(2024, 2, 20),
        "closes_on": None,
        "how": "hand",
        "closed_by": "杨秀娟",
        "region_own": None,
    }
    return [closing, by_hand]


def _year_row(city: str, tasks: int, done: int, on_time: int, late: int) -> dict[str, Any]:
    return {
        "city": city,
        "tasks": tasks,
        "done": done,
        "on_time": on_time,
        "late": late,
        "not_done": tasks - done,
        "completion": round(100.0 * done / tasks, 1) if tasks else None,
    }


_BASE_URL = "https://srz.example.cn"


def linked(context: dict[str, Any]) -> dict[str, Any]:
    """The same email when the web pages' address is configured (``links``)."""
    if context["kind"] == "fresh_link":
        return {
            **context,
            "url": f"{_BASE_URL}/t/101/eyJ0YXNrIjoxMDF9.sample",
            "expires_on": dt.date(2024, 2, 20),
        }
    items = list(context.get("items", []))
    if context["kind"] == "weekly_summary":
        # The items the summary shows in full (the rest go in the attachment), as the
        # template picks them: the check then asks for a link beside each one.
        cap = context["shown_max"]
        for name in ("overdue", "due_soon"):
            items += sorted(context[name], key=lambda i: (i["days_left"], i["due_on"]))[:cap]
    ids = [i["task_id"] for i in items] + [f["task_id"] for f in context.get("failures", [])]
    city = context.get("city")
    context["links"] = {
        "tasks": {t: f"{_BASE_URL}/t/{t}/sample-token-{t}" for t in ids if t is not None},
        "mine": f"{_BASE_URL}/me/sample-token-mine",
        "city": f"{_BASE_URL}/c/1/sample-token-city" if city else None,
    }
    return context
