"""timing/steps.py on its own: which reminder and escalation steps a task has, on which
workday and at what instant, and which one goes out at a given ``now``. Pure functions
of fixed dates and the statutory calendar (2023: Dragon Boat Festival 06-22..24, National
Day 09-29..10-06 with Saturday 10-07 a make-up workday, New Year's Day on Monday 2024-01-01).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from srz_tracker.timing.steps import DEFAULT_POLICY, Policy, TaskTiming, decide, steps_for
from srz_tracker.timing.workdays import WorkdayCalendar

BEIJING = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkdayCalendar()
# The policy of tests/data/small-plan.yaml.
SMALL_LAYER = {
    "send_hour": 9,
    "reminders": [14, 7, 0],
    "escalations": [
        {"after": 1, "to": "leader", "cc": "contact"},
        {"after": 7, "to": "office"},
    ],
    "repeat_every": 7,
}
SMALL = Policy.merge(SMALL_LAYER)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def at_beijing(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def days(timing: TaskTiming, policy: Policy, until: str) -> list[tuple[str, dt.date]]:
    return [(s.label, s.on) for s in steps_for(timing, policy, CALENDAR, BEIJING, until=d(until))]


# --------------------------------------------------------------------------- moving to workdays


def test_a_reminder_on_a_holiday_moves_to_the_previous_workday() -> None:
    steps = {s.label: s for s in steps_for(TaskTiming(d("2023-06-30")), SMALL, CALENDAR, BEIJING)}
    r7 = steps["R7"]
    # 06-23 is the Dragon Boat Festival holiday, and so is 06-22: Wednesday 06-21.
    assert (r7.nominal, r7.on, r7.kind, r7.to_role) == (
        d("2023-06-23"),
        d("2023-06-21"),
        "reminder",
        "contact",
    )
    assert r7.send_at == utc("2023-06-21T01:00")  # 09:00 in Beijing
    assert (steps["R14"].on, steps["R0"].on, steps["R0"].kind) == (
        d("2023-06-16"),
        d("2023-06-30"),
        "due_today",
    )


def test_an_escalation_on_a_day_off_moves_to_the_next_workday() -> None:
    steps = {s.label: s for s in steps_for(TaskTiming(d("2023-06-30")), SMALL, CALENDAR, BEIJING)}
    e1 = steps["E1"]
    # 07-01 is a Saturday: Monday 07-03, to the leader with the contact in copy.
    assert (e1.on, e1.kind, e1.to_role, e1.cc_role) == (
        d("2023-07-03"),
        "escalation_leader",
        "leader",
        "contact",
    )
    assert (steps["E7"].on, steps["E7"].kind, steps["E7"].to_role) == (
        d("2023-07-07"),
        "escalation_office",
        "office",
    )


def test_holiday_moves_reminder_before_and_escalation_after() -> None:
    # 2023-10-05 is a National Day holiday; 2023-10-07 (Saturday) a make-up workday.
    steps = steps_for(
        TaskTiming(dt.date(2023, 10, 5)),
        Policy.merge(DEFAULT_POLICY),
        WorkdayCalendar(),
        ZoneInfo("Asia/Shanghai"),
        until=dt.date(2023, 11, 1),
    )
    by_label = {s.label: s for s in steps}
    assert by_label["R0"].on == dt.date(2023, 9, 28)  # last workday before the holiday
    assert by_label["R0"].kind == "reminder"  # not "due today": the day is a holiday
    assert by_label["E1"].on == dt.date(2023, 10, 7)  # the Saturday make-up workday
    assert by_label["E1"].send_at == dt.datetime(2023, 10, 7, 1, 0, tzinfo=dt.UTC)  # 09:00 +8
    assert by_label["E7"].on == dt.date(2023, 10, 12)
    # The report due Saturday 12-30: its "today" reminder goes on Friday 12-29.
    report = steps_for(
        TaskTiming(dt.date(2023, 12, 30)),
        Policy.merge(DEFAULT_POLICY),
        WorkdayCalendar(),
        ZoneInfo("Asia/Shanghai"),
        until=dt.date(2024, 2, 1),
    )
    assert {s.label: s.on for s in report}["R0"] == dt.date(2023, 12, 29)
    assert {s.label: s.on for s in report}["E1"] == dt.date(2024, 1, 2)  # after New Year


# --------------------------------------------------------------------------- one step per workday


def test_two_reminders_on_one_workday_keep_the_one_nearest_the_due_date() -> None:
    quiet = {"escalations": [], "repeat_every": 7}
    policy = Policy.merge(quiet, {"reminders": [3, 1, 0]})
    # Due Monday 12-18: R3 is Friday 12-15, R1 (Sunday 12-17) moves back onto it too.
    assert days(TaskTiming(d("2023-12-18")), policy, "2023-12-31") == [
        ("R1", d("2023-12-15")),
        ("R0", d("2023-12-18")),
    ]
    # Due Saturday 12-30: R1 and R0 both land on Friday 12-29; R0 stays, as a reminder.
    two = Policy.merge(quiet, {"reminders": [1, 0]})
    [step] = steps_for(TaskTiming(d("2023-12-30")), two, CALENDAR, BEIJING)
    assert (step.label, step.on, step.kind) == ("R0", d("2023-12-29"), "reminder")


def test_two_escalations_on_one_workday_keep_the_later_one() -> None:
    # Due Thursday 09-28: E1 (09-29) and E7 (10-05) are both in the National Day holiday
    # and both move to Saturday 10-07; the office escalation, the later step, goes out.
    labels = days(TaskTiming(d("2023-09-28")), SMALL, "2023-10-20")
    assert labels == [
        ("R14", d("2023-09-14")),
        ("R7", d("2023-09-21")),
        ("R0", d("2023-09-28")),
        ("E7", d("2023-10-07")),
        ("E14", d("2023-10-12")),
        ("E21", d("2023-10-19")),
    ]


def test_a_checkpoint_reminder_on_a_reminder_day_is_dropped() -> None:
    timing = TaskTiming(d("2023-07-14"), 2, 0, checkpoint_due=d("2023-06-30"), checkpoint_count=1)
    policy = Policy.merge({"reminders": [14, 0], "escalations": [], "repeat_every": 7})
    # R14 and C0 are both on Friday 06-30: one email, the task's own reminder.
    assert days(timing, policy, "2023-07-31") == [
        ("C14", d("2023-06-16")),
        ("R14", d("2023-06-30")),
        ("R0", d("2023-07-14")),
    ]


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_reminders_only_while_behind_and_within_30_days() -> None:
    behind = TaskTiming(d("2023-12-15"), 2, 0, checkpoint_due=d("2023-06-30"), checkpoint_count=1)
    checkpoints = [
        (s.label, s.on, s.kind)
        for s in steps_for(behind, SMALL, CALENDAR, BEIJING, until=d("2023-12-31"))
        if s.label.startswith("C")
    ]
    assert checkpoints == [
        ("C14", d("2023-06-16"), "checkpoint"),
        ("C7", d("2023-06-21"), "checkpoint"),  # 06-23 is a holiday
        ("C0", d("2023-06-30"), "checkpoint"),
    ]
    on_track = TaskTiming(d("2023-12-15"), 2, 1, checkpoint_due=d("2023-06-30"), checkpoint_count=1)
    assert not [s for s in steps_for(on_track, SMALL, CALENDAR, BEIJING) if s.kind == "checkpoint"]
    far = Policy.merge(SMALL_LAYER, {"reminders": [60, 14]})
    labels = [s.label for s in steps_for(behind, far, CALENDAR, BEIJING, until=d("2023-12-31"))]
    assert "C14" in labels and "R60" in labels and "C60" not in labels


# --------------------------------------------------------------------------- policies


def test_policy_layers_override_in_order() -> None:
    assert Policy.merge() == Policy(
        send_hour=9,
        reminders=(30, 14, 7, 3, 1, 0),
        escalations=(
            {"after": 1, "to": "leader", "cc": "contact"},
            {"after": 7, "to": "office"},
        ),
        repeat_every=7,
    )
    plan = {"send_hour": 10, "reminders": [30, 7], "escalations": [{"after": 3, "to": "office"}]}
    obligation = {"reminders": [0, 7, 2, 2], "repeat_every": None}  # None: not overridden
    assert Policy.merge(plan, obligation) == Policy(
        send_hour=10,
        reminders=(7, 2, 0),
        escalations=({"after": 3, "to": "office"},),
        repeat_every=7,
    )
    # The settings' hour beats every layer; escalations are taken in order of days.
    unordered = {"escalations": [{"after": 7, "to": "office"}, {"after": 2, "to": "leader"}]}
    merged = Policy.merge(plan, unordered, send_hour=8)
    assert merged.send_hour == 8
    assert [e["after"] for e in merged.escalations] == [2, 7]


def test_the_policy_sets_the_steps_the_hour_and_the_repeats() -> None:
    policy = Policy.merge(
        {"reminders": [7, 2, 0], "escalations": [{"after": 3, "to": "office"}], "repeat_every": 7},
        send_hour=8,
    )
    steps = steps_for(TaskTiming(d("2023-12-20")), policy, CALENDAR, BEIJING, until=d("2023-12-31"))
    assert [(s.label, s.on, s.to_role) for s in steps] == [
        ("R7", d("2023-12-13"), "contact"),
        ("R2", d("2023-12-18"), "contact"),
        ("R0", d("2023-12-20"), "contact"),
        ("E3", d("2023-12-25"), "office"),  # Saturday 12-23: Monday
        ("E10", d("2024-01-02"), "office"),  # Saturday 12-30, then New Year: Tuesday
    ]  # E17 (2024-01-06) is after ``until``
    assert {s.send_at.time() for s in steps} == {dt.time(0, 0)}  # 08:00 in Beijing, in UTC


# --------------------------------------------------------------------------- deciding


def small_steps(until: str = "2023-07-20") -> list:
    return steps_for(TaskTiming(d("2023-06-30")), SMALL, CALENDAR, BEIJING, until=d(until))


def test_steps_of_the_small_plan_course() -> None:
    assert [(s.label, s.send_at) for s in small_steps()] == [
        ("R14", utc("2023-06-16T01:00")),
        ("R7", utc("2023-06-21T01:00")),
        ("R0", utc("2023-06-30T01:00")),
        ("E1", utc("2023-07-03T01:00")),
        ("E7", utc("2023-07-07T01:00")),
        ("E14", utc("2023-07-14T01:00")),
    ]


def test_nothing_due_yet_says_when_to_look_again() -> None:
    decision = decide(small_steps(), set(), at_beijing("2023-06-16T08:59"))
    assert (decision.send, decision.skipped, decision.next_at) == (
        None,
        (),
        utc("2023-06-16T01:00"),
    )


def test_a_step_is_due_from_its_send_instant() -> None:
    decision = decide(small_steps(), set(), at_beijing("2023-06-16T09:00"))
    assert decision.send is not None and decision.send.label == "R14"
    assert decision.skipped == () and decision.next_at == utc("2023-06-21T01:00")


def test_after_downtime_the_latest_due_step_goes_out_and_older_ones_are_skipped() -> None:
    now = at_beijing("2023-07-04T09:30")
    fresh = decide(small_steps(), set(), now)
    assert fresh.send is not None and fresh.send.label == "E1"
    assert [s.label for s in fresh.skipped] == ["R14", "R7", "R0"]
    assert fresh.next_at == utc("2023-07-07T01:00")
    # R14 already went out: only what came after it is skipped.
    after_r14 = decide(small_steps(), {"R14"}, now)
    assert after_r14.send is not None and after_r14.send.label == "E1"
    assert [s.label for s in after_r14.skipped] == ["R7", "R0"]


def test_steps_older_than_a_planned_one_are_never_sent() -> None:
    # E1 is planned but R0 never was (the due date moved, say): R0 is skipped, not sent.
    decision = decide(small_steps(), {"E1"}, at_beijing("2023-07-04T09:30"))
    assert decision.send is None
    assert [s.label for s in decision.skipped] == ["R14", "R7", "R0"]
    assert decision.next_at == utc("2023-07-07T01:00")
    # Everything planned: nothing to do, nothing skipped.
    planned = {s.label for s in small_steps()}
    assert decide(small_steps(), planned, at_beijing("2023-07-04T09:30")).skipped == ()


def test_past_the_last_step_there_is_no_next_look() -> None:
    decision = decide(small_steps(), {"R14"}, at_beijing("2023-08-01T09:30"))
    assert decision.send is not None and decision.send.label == "E14"
    assert [s.label for s in decision.skipped] == ["R7", "R0", "E1", "E7"]
    assert decision.next_at is None
