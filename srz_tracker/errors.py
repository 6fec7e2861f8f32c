"""Typed errors the core raises; the CLI turns each into a message and an exit code."""

from __future__ import annotations

from dataclasses import dataclass


class SrzError(Exception):
    """Base class: ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class ConfigError(SrzError):
    exit_code = 2


class UsageError(SrzError):
    """Input the user typed is wrong (an impossible date, an unknown city...)."""

    exit_code = 2


class NotFound(SrzError):
    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem in an input file, located as FILE:LINE (or FILE: row N, column C)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


# A file with a million bad rows must not print a million lines: the first ones show
# what is wrong, the count how much.
MAX_SHOWN_PROBLEMS = 50


class InputFileError(SrzError):
    """A plan or directory file with problems; carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(self.shown_lines()))

    def shown_lines(self) -> list[str]:
        """The first ``MAX_SHOWN_PROBLEMS`` problems, then how many more there are."""
        lines = [str(p) for p in self.problems[:MAX_SHOWN_PROBLEMS]]
        if len(self.problems) > MAX_SHOWN_PROBLEMS:
            lines.append(f"另有 {len(self.problems) - MAX_SHOWN_PROBLEMS} 个问题")
        return lines


class PlanError(InputFileError):
    pass


class DirectoryError(InputFileError):
    pass


class DatabaseError(SrzError):
    """The database refused or lost a statement (read-only, full, value too long,
    connection gone): said in Chinese, never as a traceback. ``kind`` names the cause
    for callers that react to it (``readonly``, ``full``, ``too_long``, ``bad_text``,
    ``connection``, ``missing``, ``other``)."""

    exit_code = 2

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


class DeliveryError(SrzError):
    """A message could not be handed over; ``permanent`` means retrying will not help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
