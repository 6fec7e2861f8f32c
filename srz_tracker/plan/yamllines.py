"""YAML with line numbers: every value of the document is found again by its path.

PyYAML's composer gives nodes with marks; we turn them into plain Python values and
keep a map from path (("obligations", 3, "recurrence")) to the 1-based line, so that a
validation error can say FILE:LINE. Duplicate mapping keys are errors, not silently
merged as yaml.safe_load would.

A plan file is a short document typed by people, so the loader refuses what only an
attack needs: anchors and aliases (478 bytes of nested aliases expand to gigabytes, the
"billion laughs"), nesting deeper than ``MAX_DEPTH`` (the composer recurses once per
level: 20,000 brackets would end in RecursionError) and files over ``MAX_PLAN_BYTES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from srz_tracker.errors import Problem

Path_ = tuple[str | int, ...]

_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")

MAX_PLAN_BYTES = 2 * 1024 * 1024
# The bundled plan nests 5 levels deep; room for any sensible layout, far from Python's
# recursion limit.
MAX_DEPTH = 64


class _Refused(yaml.YAMLError):
    """Something the plan loader does not accept, at a place in the file."""

    def __init__(self, mark: yaml.Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _PlanLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases and deep nesting while composing,
    before anything is expanded or built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # Checked in the scanner too: it looks ahead over every open bracket for keys,
        # so 20,000 of them would take seconds before the composer saw the first.
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(self.get_mark(), f"嵌套超过 {MAX_DEPTH} 层")
        super().fetch_flow_collection_start(token_class)  # type: ignore[misc]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(event.start_mark, f"不支持 YAML 别名 *{event.anchor}：请直接写出内容")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(event.start_mark, f"不支持 YAML 锚点 &{event.anchor}：请直接写出内容")
        if self._depth >= MAX_DEPTH:
            raise _Refused(event.start_mark, f"嵌套超过 {MAX_DEPTH} 层")
        self._depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


@dataclass
class LocatedDoc:
    source: str
    value: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """The line of ``path`` or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def where(self, path: Path_) -> str:
        return f"{self.source}:{self.line(path)}"


# A loader used only for its constructor, to turn scalar nodes into ints, dates, bools.
_constructor = yaml.SafeLoader("")


def _scalar(node: yaml.ScalarNode) -> Any:
    return _constructor.construct_object(node, deep=True)


def _convert(node: yaml.Node, path: Path_, doc: LocatedDoc, problems: list[Problem]) -> Any:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            try:
                key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            except (yaml.YAMLError, ValueError):  # the merge key <<, an unknown tag...
                key = None
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    Problem(f"{doc.source}:{key_node.start_mark.line + 1}", "不支持 YAML 合并键 <<")
                )
                continue
            if not isinstance(key, str | int):
                problems.append(
                    Problem(f"{doc.source}:{key_node.start_mark.line + 1}", "键必须是文本")
                )
                continue
            if key in out:
                problems.append(
                    Problem(f"{doc.source}:{key_node.start_mark.line + 1}", f"重复的键 {key!r}")
                )
                continue
            out[key] = _convert(value_node, (*path, key), doc, problems)
            # A problem about a key is shown on the key's line; for a block value (a
            # nested mapping or list) the value itself starts on the next line.
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), doc, problems) for i, item in enumerate(node.value)]
    try:
        return _scalar(node)
    except (yaml.YAMLError, ValueError):
        # e.g. 2023-02-30 looks like a timestamp but is no date
        what = "不存在的日期" if _DATE_LIKE.match(str(node.value)) else "无法解析的值"
        problems.append(
            Problem(f"{doc.source}:{node.start_mark.line + 1}", f"{what} {node.value!r}")
        )
        return None


def load_located(text: str, source: str) -> tuple[LocatedDoc, list[Problem]]:
    """Parse ``text``; syntax errors come back as problems, never as exceptions."""
    doc = LocatedDoc(source=source, value=None)
    problems: list[Problem] = []
    # Characters first: counting them is free, and no character is less than a byte.
    if len(text) > MAX_PLAN_BYTES or len(text.encode("utf-8")) > MAX_PLAN_BYTES:
        limit = MAX_PLAN_BYTES // (1024 * 1024)
        problems.append(Problem(source, f"文件过大：实施方案文件不得超过 {limit} MB"))
        return doc, problems
    try:
        node = yaml.compose(text, Loader=_PlanLoader)
    except _Refused as exc:
        problems.append(Problem(f"{source}:{exc.mark.line + 1}", exc.message))
        return doc, problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = exc.problem or str(exc)
        problems.append(Problem(f"{source}:{line}", f"YAML 语法错误：{what}"))
        return doc, problems
    except yaml.YAMLError as exc:
        problems.append(Problem(f"{source}:1", f"YAML 语法错误：{exc}"))
        return doc, problems
    if node is None:
        problems.append(Problem(f"{source}:1", "文件为空"))
        return doc, problems
    doc.value = _convert(node, (), doc, problems)
    return doc, problems
