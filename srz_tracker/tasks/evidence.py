"""Evidence files: uploaded bytes kept under the data directory by content (sha256), their
name, type, size, uploader and time in the database.

An upload is written to a temporary file while it streams in, hashed and measured on the
way, and refused as soon as it passes the size limit. Its type is told from its content
(the first bytes, and for DOCX/XLSX the parts inside the ZIP), never from its name or
the browser's word for it. Only a submission that passed every check keeps its files
(:meth:`EvidenceStore.keep`, a rename into ``<root>/ab/abcdef...``); anything refused is
deleted, so a refusal writes nothing. Every ``srz serve`` worker shares the directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.config import Settings
from srz_tracker.errors import NotFound, UsageError
from srz_tracker.store.models import EvidenceFile

# kind -> (MIME type, extensions a file of that kind may be named with, label)
KINDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "pdf": ("application/pdf", (".pdf",), "PDF"),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg"), "JPEG 图片"),
    "png": ("image/png", (".png",), "PNG 图片"),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (".docx",),
        "Word 文档（DOCX）",
    ),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (".xlsx",),
        "Excel 表格（XLSX）",
    ),
}
ACCEPT = ",".join(ext for _mime, exts, _label in KINDS.values() for ext in exts)
ALLOWED_TEXT = "PDF、JPG/PNG 图片、Word（DOCX）或 Excel（XLSX）"
_HEAD = 8


class UploadRefused(UsageError):
    """A file that may not be kept; the message says why, in Chinese."""


class UploadTooLarge(UploadRefused):
    pass


def sniff(head: bytes, path: Path) -> str | None:
    """The kind of a file from its content, or None when it is none of ours."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return None
        if "[Content_Types].xml" in names:
            if "word/document.xml" in names:
                return "docx"
            if "xl/workbook.xml" in names:
                return "xlsx"
    return None


def clean_filename(name: str) -> str:
    """The last path component, no control characters, at most 120 characters (the
    extension kept)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".") or "材料"
    stem, dot, ext = name.rpartition(".")
    if dot and len(ext) <= 8 and len(name) > 120:
        return stem[: 119 - len(ext)] + "." + ext
    return name[:120]


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} 字节"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


@dataclass
class UploadedFile:
    """A file that streamed in and passed its checks, still in its temporary place."""

    filename: str
    kind: str
    content_type: str
    size: int
    sha256: str
    temp_path: Path


class Upload:
    """One file as it streams in: ``write`` each chunk, then ``finish`` (or ``discard``)."""

    def __init__(self, directory: Path, filename: str, limit: int) -> None:
        self.filename = clean_filename(filename)
        self.limit = limit
        self.size = 0
        self.too_large = False
        self._hash = hashlib.sha256()
        self._head = b""
        fd, name = tempfile.mkstemp(prefix="upload-", dir=directory)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        """Take a chunk; past the limit the file is cut off and the rest only counted, so
        that the caller can read the request to its end and answer with a page."""
        self.size += len(chunk)
        if self.too_large:
            return
        if self.size > self.limit:
            self.too_large = True
            self._file.close()
            self.path.unlink(missing_ok=True)
            return
        if len(self._head) < _HEAD:
            self._head += chunk[: _HEAD - len(self._head)]
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> UploadedFile:
        """Check size and type; UploadRefused (the temporary file deleted) when it fails."""
        if self.too_large:
            raise UploadTooLarge(
                f"文件“{self.filename}”超过 {self.limit // (1024 * 1024)} MB，未能上传。"
                "请压缩或拆分后重新提交。"
            )
        self._file.close()
        if self.size == 0:
            self.discard()
            raise UploadRefused(f"文件“{self.filename}”是空文件，请重新选择。")
        kind = sniff(self._head, self.path)
        if kind is None:
            self.discard()
            raise UploadRefused(
                f"文件“{self.filename}”的内容不是 {ALLOWED_TEXT} 文件，未能上传"
                "（按文件内容判断，与文件名无关）。"
            )
        mime, extensions, label = KINDS[kind]
        if not self.filename.lower().endswith(extensions):
            self.discard()
            raise UploadRefused(
                f"文件“{self.filename}”的内容是 {label}，与文件扩展名不符，未能上传。"
                f"请使用扩展名 {' 或 '.join(extensions)}。"
            )
        return UploadedFile(self.filename, kind, mime, self.size, self._hash.hexdigest(), self.path)

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


class EvidenceStore:
    """The files under ``<data_dir>/evidence``: ``ab/abcdef...`` by sha256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def of(cls, settings: Settings) -> EvidenceStore:
        return cls(settings.data_dir / "evidence")

    def new_upload(self, filename: str, limit: int) -> Upload:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return Upload(tmp, filename, limit)

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def keep(self, uploaded: UploadedFile) -> Path:
        """Move an upload to its place; the same content uploaded twice is kept once."""
        target = self.path_of(uploaded.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            uploaded.temp_path.unlink(missing_ok=True)
        else:
            os.replace(uploaded.temp_path, target)
        return target

    def stored_files(self) -> list[Path]:
        """Every kept file (tests and checks: a refusal keeps none)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("??/*") if p.is_file())

    def export(self, sha256: str, destination: Path) -> None:
        source = self.path_of(sha256)
        if not source.is_file():
            raise NotFound(f"材料文件 {sha256} 不在数据目录 {self.root} 中")
        shutil.copyfile(source, destination)


def record_file(
    session: Session,
    *,
    task_id: int,
    submission_id: int | None,
    uploaded: UploadedFile,
    email: str,
    name: str | None,
    source: str,
    now: dt.datetime,
) -> EvidenceFile:
    row = EvidenceFile(
        task_id=task_id,
        submission_id=submission_id,
        sha256=uploaded.sha256,
        filename=uploaded.filename,
        content_type=uploaded.content_type,
        size=uploaded.size,
        uploaded_by=email.lower(),
        uploader_name=name,
        source=source,
        uploaded_at=now,
    )
    session.add(row)
    return row


def files_for_task(session: Session, task_id: int) -> list[EvidenceFile]:
    return list(
        session.scalars(
            select(EvidenceFile).where(EvidenceFile.task_id == task_id).order_by(EvidenceFile.id)
        )
    )


def get_file(session: Session, file_id: int) -> EvidenceFile:
    row = session.get(EvidenceFile, file_id)
    if row is None:
        raise NotFound(f"没有编号为 {file_id} 的材料文件（srz show 任务 可列出材料）")
    return row


def may_download(row: EvidenceFile, task_id: int, email: str, office: bool) -> bool:
    """A file goes back only to the link that uploaded it (same task, same address), or
    to the office."""
    if row.task_id != task_id:
        return False
    return office or row.uploaded_by == email.lower()


def file_rows(session: Session, task_id: int) -> list[dict[str, object]]:
    """What ``srz show`` lists of a task's files."""
    return [
        {
            "id": f.id,
            "filename": f.filename,
            "content_type": f.content_type,
            "size": f.size,
            "sha256": f.sha256,
            "uploaded_by": f.uploaded_by,
            "uploader_name": f.uploader_name,
            "source": f.source,
            "uploaded_at": f.uploaded_at.isoformat(),
        }
        for f in files_for_task(session, task_id)
    ]
