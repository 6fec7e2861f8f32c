"""pydantic's validation errors as FILE:LINE problems, in Chinese.

Each error's location (``("obligations", 3, "recurrence", "due")``) is a path into
the YAML document, so ``LocatedDoc.where`` finds its line; a key that is missing has
no line of its own and is shown on the line of the mapping that lacks it. The message
is ours: pydantic's English text is never shown. Errors raised by ``fields.rule``
already carry their Chinese message, and may point below the value they checked.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from srz_tracker.errors import Problem
from srz_tracker.plan.fields import RULE
from srz_tracker.plan.yamllines import LocatedDoc, Path_

_MAPPING = "{name} 应为映射（key: value）"
_INTEGER = "{name} 应为整数，而不是 {value!r}"
_BOOLEAN = "{name} 应为 true 或 false，而不是 {value!r}"
_NUMBER = "{name} 应为数字，而不是 {value!r}"

# pydantic error type -> message; the placeholders are the path, the input and the
# error's context (ge, le, min_length...).
_MESSAGES = {
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "dict_type": _MAPPING,
    "list_type": "{name} 应为列表",
    "tuple_type": "{name} 应为列表",
    "set_type": "{name} 应为列表",
    "too_short": "{name} 至少需要 {min_length} 项",
    "too_long": "{name} 最多只能有 {max_length} 项",
    "int_type": _INTEGER,
    "int_parsing": _INTEGER,
    "int_from_float": _INTEGER,
    "greater_than_equal": "{name} 应不小于 {ge}，而不是 {value!r}",
    "less_than_equal": "{name} 应不大于 {le}，而不是 {value!r}",
    "greater_than": "{name} 应大于 {gt}，而不是 {value!r}",
    "less_than": "{name} 应小于 {lt}，而不是 {value!r}",
    "string_type": "{name} 应为文本，而不是 {value!r}",
    "string_too_short": "{name} 应为非空文本",
    "string_too_long": "{name} 不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "{name} 的格式不对：{value!r}",
    "bool_type": _BOOLEAN,
    "bool_parsing": _BOOLEAN,
    "float_type": _NUMBER,
    "float_parsing": _NUMBER,
    "decimal_type": _NUMBER,
    "decimal_parsing": _NUMBER,
    "finite_number": "{name} 应为有限的数字，而不是 {value!r}",
    "date_type": "{name} 应为日期，而不是 {value!r}",
    "frozen_instance": "{name} 不能修改",
}


def problems_from(exc: ValidationError, doc: LocatedDoc, root: type[BaseModel]) -> list[Problem]:
    """One problem per error of ``exc``, raised validating ``doc.value`` as ``root``."""
    out = []
    for err in exc.errors(include_url=False):
        loc = (*err["loc"], *err.get("ctx", {}).get("at", ()))
        out.append(Problem(doc.where(loc), message(err, root)))
    return out


def message(err: ErrorDetails, root: type[BaseModel]) -> str:
    kind, loc, value = err["type"], tuple(err["loc"]), err.get("input")
    name = _name(loc)
    if kind == RULE:
        return err["ctx"]["message"]
    if kind == "missing":
        return f"{_name(loc[:-1])} 缺少必填项 {loc[-1]!r}"
    if kind == "extra_forbidden":
        known = ", ".join(sorted(_keys(_type_at(root, loc[:-1]))))
        return f"未知的键 {loc[-1]!r}（可用：{known}）"
    if value is None:  # `key:` with nothing after it, whatever type was expected
        return f"{name} 不能为空"
    if kind == "literal_error":
        choices = "/".join(str(c) for c in get_args(_type_at(root, loc)))
        return f"{name} 应为 {choices} 之一，而不是 {value!r}"
    template = _MESSAGES.get(kind)
    if template is None:  # a check we have no words for yet: say where, not pydantic's text
        return f"{name} 的值 {value!r} 不符合要求"
    return template.format(name=name, value=value, **err.get("ctx", {}))


def _name(path: Path_) -> str:
    return ".".join(str(p) for p in path) if path else "文件"


def _type_at(root: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The declared type at ``loc`` below ``root`` (a model, a Literal...), or None."""
    tp: Any = root
    for part in loc:
        tp = _bare(tp)
        if isinstance(part, str) and isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif isinstance(part, int) and get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        else:
            return None
    tp = _bare(tp)
    return tp if get_origin(tp) is Literal or isinstance(tp, type) else None


def _bare(tp: Any) -> Any:
    """``X`` of ``Annotated[X, ...]`` and of ``X | None``."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) == 1:
                tp = rest[0]
                continue
        return tp


def _keys(tp: Any) -> list[str]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []
