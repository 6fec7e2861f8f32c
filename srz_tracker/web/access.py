"""What every page does first: check its link, and say no in a clear Chinese page.

The rules (what a signed link binds, who may open what) are core code in
:mod:`srz_tracker.links` and :mod:`srz_tracker.tasks.access`; this module turns their
answers into refusals the pages show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from srz_tracker.clock import local_date, utcnow
from srz_tracker.config import Settings
from srz_tracker.kinds import LinkPurpose
from srz_tracker.links import Link, LinkExpired, LinkInvalid, LinkSigner
from srz_tracker.tasks.evidence import EvidenceStore
from srz_tracker.text import cn_date
from srz_tracker.web.pages import Pages, mask_email

MB = 1024 * 1024


class Refusal(Exception):
    """A page that says no; rendered by the app's handler with ``status``."""

    def __init__(self, status: int, title: str, message: str, **extra: Any) -> None:
        super().__init__(title)
        self.status, self.title, self.message, self.extra = status, title, message, extra


INVALID = (
    "链接无效",
    "此链接无法识别，可能被改动或复制不完整。请直接点击邮件中的链接（不要手工修改地址）；"
    "一个链接只能打开邮件中对应的那一项事项。",
)


@dataclass
class Web:
    """What the pages share: settings, database, link signer, evidence store, clock.
    Nothing here changes while serving: any worker can answer any request."""

    settings: Settings
    engine: Engine
    signer: LinkSigner
    store: EvidenceStore
    pages: Pages = field(default_factory=Pages)
    fixed_now: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.fixed_now or utcnow()

    @property
    def file_limit(self) -> int:
        return self.settings.web.max_upload_mb * MB

    @property
    def body_cap(self) -> int:
        # Every file at the limit, the fields, and one more file's worth of slack: past
        # that the request is cut off rather than read for nothing.
        return (self.settings.web.max_files + 2) * self.file_limit + MB

    def open_link(
        self, token: str, purpose: LinkPurpose, target: int | None, now: dt.datetime
    ) -> Link:
        try:
            return self.signer.check_for(token, purpose, target, now)
        except LinkExpired as exc:
            raise Refusal(
                403,
                "链接已过期",
                f"此链接已于{cn_date(local_date(exc.link.expires_at))}过期，不能再使用。"
                "可点击下方按钮，把新链接发送到原收件邮箱，收到后用新链接打开即可。",
                renew_token=token,
                renew_csrf=self.signer.csrf(token),
                renew_email=mask_email(exc.link.email),
            ) from None
        except LinkInvalid:
            raise Refusal(403, *INVALID) from None


def not_yours(what: str = "该事项") -> Refusal:
    return Refusal(
        403,
        "无权访问",
        f"此链接的收件人目前不是{what}的联系人（名录可能已更新）。"
        "如有疑问，请与自治区农业农村厅农产品质量安全监管处联系。",
    )


def csrf_failed() -> Refusal:
    return Refusal(
        403,
        "页面已失效",
        "提交的表单缺少有效的校验信息，未作任何登记。请回到邮件，重新点击链接打开页面后再提交。",
    )
