"""YAML with line numbers: every value of the document is found again by its path.

PyYAML's composer gives nodes with marks; we turn them into plain Python values and
keep a map from path (("obligations", 3, "recurrence")) to the 1-based line, so that a
validation error can say FILE:LINE. Duplicate mapping keys are errors, not silently
merged as yaml.safe_load would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from srz_tracker.errors import Problem

Path_ = tuple[str | int, ...]

_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


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
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
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
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
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
