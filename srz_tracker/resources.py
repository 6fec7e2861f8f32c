"""The files that ship with srz-tracker: the bundled plan, the sample directory and the
email templates.

The repository keeps them in its top-level ``schedules/`` and ``email_templates/``
folders, their one source of truth. A built wheel carries the same folders inside the
package, as ``srz_tracker/data/schedules`` and ``srz_tracker/data/email_templates``
(pyproject's ``package-dir``), so a regular ``pip install .`` needs nothing outside
site-packages. They are found through ``importlib.resources``; a source checkout or an
editable install, which has no ``srz_tracker/data``, uses the top-level folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SCHEDULES = "schedules"
EMAIL_TEMPLATES = "email_templates"
# What the plan and directory commands accept by name: name -> file in schedules/.
BUNDLED_FILES = {
    "gx-srz-2023": "gx-srz-2023.yaml",
    "sample-institutions": "sample-institutions.csv",
    "sample-contacts": "sample-contacts.csv",
}
BUNDLED_PLAN = "gx-srz-2023"
SAMPLE_DIRECTORY = ("sample-institutions", "sample-contacts")


def bundled_dir(name: str) -> Path:
    """The folder ``name`` (``schedules`` or ``email_templates``) as shipped."""
    packaged = resources.files("srz_tracker").joinpath("data", name)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def bundled_file(name: str) -> Path | None:
    """A shipped plan or sample file by its short name (``gx-srz-2023``) or file name
    (``gx-srz-2023.yaml``); None when nothing of that name ships."""
    file_name = BUNDLED_FILES.get(name, name if name in BUNDLED_FILES.values() else None)
    if file_name is None:
        return None
    path = bundled_dir(SCHEDULES) / file_name
    return path if path.is_file() else None


def resolve_input_file(text: str) -> Path:
    """A file named on the command line: the path as given when it exists, else the
    shipped file of that name (``gx-srz-2023``, or ``schedules/gx-srz-2023.yaml`` as the
    repository names it, from any directory), else the path as given, whose reader then
    reports it missing."""
    path = Path(text)
    if path.exists():
        return path
    if path.parent in (Path("."), Path(SCHEDULES)):
        return bundled_file(path.name) or path
    return path
