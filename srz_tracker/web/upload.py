"""Reading a multipart form as it streams in (python-multipart), files straight into the
evidence store's uploads.

Starlette's own form parser spools every file whole before anybody can look at it; here
each chunk goes to :class:`srz_tracker.tasks.evidence.Upload`, which hashes it, measures
it and stops keeping it past the limit. The request is still read to its end (up to a
hard cap) so that the browser gets a page that says what went wrong instead of a reset
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from srz_tracker.tasks.evidence import EvidenceStore, Upload

FIELD_LIMIT = 16 * 1024  # bytes of one text field
FIELDS_MAX = 30


class FormError(Exception):
    """The body is not a form we can read (or far too large); the message is Chinese."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class StreamedForm:
    fields: dict[str, str] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)
    too_many_files: bool = False

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    def discard(self) -> None:
        """Delete what is still temporary (kept files have moved away already)."""
        for upload in self.uploads:
            upload.discard()


class _Receiver:
    def __init__(self, store: EvidenceStore, file_limit: int, max_files: int) -> None:
        self.store, self.file_limit, self.max_files = store, file_limit, max_files
        self.form = StreamedForm()
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._name: str | None = None
        self._data = bytearray()
        self._upload: Upload | None = None
        self._skip = False

    # python-multipart callbacks ------------------------------------------------------

    def on_part_begin(self) -> None:
        self._headers, self._name, self._data = {}, None, bytearray()
        self._upload, self._skip = None, False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _kind, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.form.fields) >= FIELDS_MAX:
                raise FormError("表单字段过多")
            return
        filename = options[b"filename"].decode("utf-8", "replace")
        if not filename:
            self._skip = True  # a file input left empty
            return
        if len(self.form.uploads) >= self.max_files:
            self.form.too_many_files = True
            self._skip = True
            return
        self._upload = self.store.new_upload(filename, self.file_limit)
        self.form.uploads.append(self._upload)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._skip:
            return
        if self._upload is not None:
            self._upload.write(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > FIELD_LIMIT:
            raise FormError("填写的内容过长，请精简后重新提交")

    def on_part_end(self) -> None:
        if self._upload is None and not self._skip and self._name:
            self.form.fields[self._name] = self._data.decode("utf-8", "replace")


async def read_form(
    content_type: str,
    stream: AsyncIterator[bytes],
    store: EvidenceStore,
    file_limit: int,
    max_files: int,
    body_cap: int,
) -> StreamedForm:
    """Read the whole form; FormError when it is not multipart or passes ``body_cap``."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise FormError("表单格式不正确，请在邮件链接打开的页面上提交")
    receiver = _Receiver(store, file_limit, max_files)
    callbacks = {
        name: getattr(receiver, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    total = 0
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > body_cap:
                raise FormError("提交的内容过大，请减少或压缩文件后重新提交", status=413)
            parser.write(chunk)
        parser.finalize()
    except FormError:
        receiver.form.discard()
        raise
    except Exception:
        receiver.form.discard()
        raise FormError("表单内容不完整，请重新提交") from None
    return receiver.form
