"""Notifier plugins: how the on-duty staff are told of urgent and overdue cases.

A notifier is a small class with a `slug`: `addresses()` says whom a notice goes to (one address per on-duty
person, or one per group robot), `send()` delivers one message to one address and raises `DeliveryFailed` when it
could not. Built in: `log` (the application log), `email` (SMTP) and `webhook` (HTTP POST of JSON in the formats of
WeCom and DingTalk group robots, or plain JSON). Others come from installed packages through the entry point group
`gridgov.notifiers` (each entry point names a Notifier subclass). The registry is built once and read-only; which
notifiers run is `GRIDGOV_DUTY_NOTIFIERS`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import lru_cache
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, ClassVar

import httpx

from gridgov.config import DutyWebhook, Settings

log = logging.getLogger("gridgov.duty.notify")
ENTRY_POINT_GROUP = "gridgov.notifiers"


@dataclass(frozen=True)
class Recipient:
    """An on-duty person a notice concerns, with the contacts notifiers may use."""

    user_id: int
    username: str
    name: str
    centre_code: str
    is_leader: bool = False
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True)
class Address:
    """Where one delivery goes: `recipient` is unique per notifier and case (the outbox's idempotency key)."""

    recipient: str
    user_id: int | None = None
    address: str | None = None
    mentions: list[dict[str, Any]] = field(default_factory=list)  # {"name", "mobile"} of people to @-mention
    skip_reason: str | None = None  # set: recorded as skipped, never sent


@dataclass(frozen=True)
class Message:
    """One notice as notifiers send it."""

    kind: str  # urgent | overdue
    case_id: int
    case_number: str
    subject: str
    body: str
    url: str | None = None
    mentions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The whole message as plain text: the body, then the link."""
        return self.body + (f"\n{self.url}" if self.url else "")


class DeliveryFailed(Exception):
    """A delivery did not get through (it is retried later, up to the configured number of attempts)."""


class Notifier(ABC):
    """A way of telling the on-duty staff (e-mail, a group robot, an SMS gateway ...)."""

    slug: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def addresses(
        self, *, settings: Settings, centre_codes: Sequence[str], recipients: Sequence[Recipient]
    ) -> list[Address]:
        """Returns where a notice for these centres' on-duty people goes through this notifier."""

    @abstractmethod
    def send(self, *, settings: Settings, address: str | None, message: Message) -> None:
        """Delivers `message` to `address`; raises DeliveryFailed when it did not get through."""


class LogNotifier(Notifier):
    """Writes each notice to the application log, once per on-duty person (always works; for trials and audits)."""

    slug = "log"
    description = "the application log (logger gridgov.duty.notify)"

    def addresses(
        self, *, settings: Settings, centre_codes: Sequence[str], recipients: Sequence[Recipient]
    ) -> list[Address]:
        return [Address(recipient=f"user:{r.user_id}", user_id=r.user_id, address=r.username) for r in recipients]

    def send(self, *, settings: Settings, address: str | None, message: Message) -> None:
        log.info("duty notice to %s: %s", address, message.subject)


class EmailNotifier(Notifier):
    """Sends each on-duty person an e-mail at the address of their duty contact (smtplib)."""

    slug = "email"
    description = "e-mail through the SMTP server of GRIDGOV_DUTY_SMTP_*"

    def addresses(
        self, *, settings: Settings, centre_codes: Sequence[str], recipients: Sequence[Recipient]
    ) -> list[Address]:
        return [
            Address(
                recipient=f"user:{r.user_id}",
                user_id=r.user_id,
                address=r.email,
                skip_reason=None if r.email else "no e-mail address in the duty contacts",
            )
            for r in recipients
        ]

    def send(self, *, settings: Settings, address: str | None, message: Message) -> None:
        if not settings.duty_smtp_host:
            raise DeliveryFailed("no SMTP server configured (GRIDGOV_DUTY_SMTP_HOST)")
        if not address:
            raise DeliveryFailed("no e-mail address")
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = settings.duty_smtp_from
        mail["To"] = address
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain="gridgov")
        mail["X-Gridgov-Case"] = message.case_number
        mail.set_content(message.text)
        timeout = settings.duty_notify_timeout_s
        try:
            if settings.duty_smtp_security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.duty_smtp_host,
                    settings.duty_smtp_port,
                    timeout=timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(settings.duty_smtp_host, settings.duty_smtp_port, timeout=timeout)
            with client:
                if settings.duty_smtp_security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if settings.duty_smtp_user:
                    client.login(settings.duty_smtp_user, settings.duty_smtp_password or "")
                refused = client.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {settings.duty_smtp_host}:{settings.duty_smtp_port}: {exc}") from exc
        if refused:
            raise DeliveryFailed(f"SMTP refused {', '.join(refused)}")


# --- webhooks (group robots) ----------------------------------------------------------------------------------


def wecom_payload(message: Message) -> dict[str, Any]:
    """Returns a WeCom group robot's text message (企业微信群机器人), @-mentioning the on-duty people by mobile."""
    mobiles = [m["mobile"] for m in message.mentions if m.get("mobile")]
    text: dict[str, Any] = {"content": message.text}
    if mobiles:
        text["mentioned_mobile_list"] = mobiles
    return {"msgtype": "text", "text": text}


def dingtalk_payload(message: Message) -> dict[str, Any]:
    """Returns a DingTalk group robot's text message (钉钉群机器人); an @ needs the mobile in the text too."""
    mobiles = [m["mobile"] for m in message.mentions if m.get("mobile")]
    content = message.text + ("\n" + " ".join(f"@{mobile}" for mobile in mobiles) if mobiles else "")
    return {"msgtype": "text", "text": {"content": content}, "at": {"atMobiles": mobiles, "isAtAll": False}}


def json_payload(message: Message) -> dict[str, Any]:
    """Returns the plain JSON document of a notice, for a district's own endpoint."""
    return {
        "source": "gridgov",
        "kind": message.kind,
        "case": {"id": message.case_id, "number": message.case_number, "url": message.url},
        "subject": message.subject,
        "text": message.body,
        "on_duty": message.mentions,
    }


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """Returns DingTalk's signature (加签): base64 of HMAC-SHA256 over "timestamp\\nsecret" keyed with the secret."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int | None = None) -> str:
    """Returns the robot address with `timestamp` and `sign` added when the robot has a signing secret."""
    if not secret:
        return url
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    query = urllib.parse.urlencode({"timestamp": timestamp_ms, "sign": dingtalk_sign(secret, timestamp_ms)})
    return f"{url}{'&' if '?' in url else '?'}{query}"


PAYLOADS = {"wecom": wecom_payload, "dingtalk": dingtalk_payload, "json": json_payload}


def redact(url: str) -> str:
    """Returns a robot address without its query (key, access_token, sign), safe to log or store."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def post_webhook(hook: DutyWebhook, message: Message, *, timeout: float, timestamp_ms: int | None = None) -> None:
    """Posts a message to one group robot; raises DeliveryFailed on a transport error, an HTTP error or a robot's
    non-zero errcode (WeCom and DingTalk answer HTTP 200 with {"errcode": ..., "errmsg": ...})."""
    url = dingtalk_url(hook.url, hook.secret, timestamp_ms) if hook.format == "dingtalk" else hook.url
    body = json.dumps(PAYLOADS[hook.format](message), ensure_ascii=False).encode("utf-8")
    try:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/json; charset=utf-8"}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook {hook.name} ({redact(hook.url)}): {exc.__class__.__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise DeliveryFailed(f"webhook {hook.name}: HTTP {response.status_code} {response.text[:200]}")
    if hook.format in ("wecom", "dingtalk"):
        try:
            answer = response.json()
        except ValueError:
            raise DeliveryFailed(f"webhook {hook.name}: the robot did not answer JSON: {response.text[:200]}") from None
        if not isinstance(answer, dict) or answer.get("errcode", 0) != 0:
            raise DeliveryFailed(f"webhook {hook.name}: robot refused: {answer}")


class WebhookNotifier(Notifier):
    """Posts each notice once to every group robot serving its centres, @-mentioning the on-duty people."""

    slug = "webhook"
    description = "group robots of GRIDGOV_DUTY_WEBHOOKS (WeCom, DingTalk, JSON)"

    def addresses(
        self, *, settings: Settings, centre_codes: Sequence[str], recipients: Sequence[Recipient]
    ) -> list[Address]:
        found = []
        for hook in settings.duty_webhooks:
            serves = [code for code in centre_codes if not hook.centres or code in hook.centres]
            if not serves:
                continue
            mentions = [
                {"name": r.name, "mobile": r.mobile, "leader": r.is_leader}
                for r in recipients
                if r.centre_code in serves
            ]
            found.append(Address(recipient=f"webhook:{hook.name}", address=hook.name, mentions=mentions))
        return found

    def send(self, *, settings: Settings, address: str | None, message: Message) -> None:
        hook = next((h for h in settings.duty_webhooks if h.name == address), None)
        if hook is None:
            raise DeliveryFailed(f"webhook {address!r} is no longer configured (GRIDGOV_DUTY_WEBHOOKS)")
        post_webhook(hook, message, timeout=settings.duty_notify_timeout_s)


# --- the registry ---------------------------------------------------------------------------------------------

BUILTIN: tuple[type[Notifier], ...] = (LogNotifier, EmailNotifier, WebhookNotifier)


def build_registry(extra: Iterable[Notifier] = (), *, plugins: bool = False) -> Mapping[str, Notifier]:
    """Returns a read-only registry slug → notifier: the built-in ones, the installed plugins (when `plugins`) and
    `extra` (later ones replace earlier ones with the same slug)."""
    found: dict[str, Notifier] = {cls.slug: cls() for cls in BUILTIN}
    if plugins:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = point.load()
                notifier = loaded() if isinstance(loaded, type) else loaded
                if not isinstance(notifier, Notifier):
                    raise TypeError(f"{point.value} is not a gridgov Notifier")
            except Exception:
                log.exception("notifier plugin %s could not be loaded", point.name)
                continue
            found[notifier.slug] = notifier
    for notifier in extra:
        found[notifier.slug] = notifier
    return MappingProxyType(found)


@lru_cache(maxsize=1)
def registry() -> Mapping[str, Notifier]:
    """Returns the process's registry: the built-in notifiers and the installed plugins, built once."""
    return build_registry(plugins=True)


def enabled(settings: Settings, notifiers: Mapping[str, Notifier] | None = None) -> tuple[list[Notifier], list[str]]:
    """Returns the notifiers GRIDGOV_DUTY_NOTIFIERS enables, in its order, and the names it gives that are unknown."""
    available = registry() if notifiers is None else notifiers
    chosen, unknown = [], []
    for slug in (part.strip() for part in settings.duty_notifiers.split(",")):
        if not slug:
            continue
        if slug in available:
            if available[slug] not in chosen:
                chosen.append(available[slug])
        else:
            unknown.append(slug)
    return chosen, unknown
