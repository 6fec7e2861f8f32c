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


class InputFileError(SrzError):
    """A plan or directory file with problems; carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PlanError(InputFileError):
    pass


class DirectoryError(InputFileError):
    pass


class DeliveryError(SrzError):
    """A message could not be handed over; ``permanent`` means retrying will not help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
