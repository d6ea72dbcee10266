"""Notifier plugins: the WeCom and DingTalk robot formats (with DingTalk's signature checked against a hand
computation), webhooks and e-mail delivered to local servers, the registry, and the job sending through them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.config import DutyWebhook, Settings
from gridgov.domains.cases.service import Context
from gridgov.domains.duty import jobs, service
from gridgov.domains.duty.enums import DeliveryStatus
from gridgov.domains.duty.models import DutyDelivery
from gridgov.domains.duty.notifiers import (
    DeliveryFailed,
    EmailNotifier,
    LogNotifier,
    Message,
    Notifier,
    Recipient,
    WebhookNotifier,
    build_registry,
    dingtalk_payload,
    dingtalk_sign,
    dingtalk_url,
    enabled,
    post_webhook,
    redact,
    wecom_payload,
)
from gridgov.domains.intake import service as intake
from tests.domains.cases.test_flow import report
from tests.domains.duty.conftest import OPERATOR, local
from tests.domains.duty.servers import smtp_sink, webhook_endpoint

SECRET = "SEC0123456789abcdef"
MESSAGE = Message(
    kind="overdue",
    case_id=7,
    case_number="410105-20261201-000007",
    subject="【超期案件】410105-20261201-000007 路边暴露垃圾",
    body="【超期案件】410105-20261201-000007 路边暴露垃圾\n事项：暴露垃圾（一般）",
    url="https://gridgov.example/cases/7",
    mentions=[{"name": "张三", "mobile": "13800000000", "leader": True}, {"name": "李四", "mobile": None}],
)


# --- formats ---------------------------------------------------------------------------------------------------


def test_the_wecom_robot_gets_a_text_message_mentioning_the_mobiles():
    assert wecom_payload(MESSAGE) == {
        "msgtype": "text",
        "text": {
            "content": MESSAGE.body + "\nhttps://gridgov.example/cases/7",
            "mentioned_mobile_list": ["13800000000"],
        },
    }


def test_the_dingtalk_robot_gets_a_text_message_with_at_mobiles_in_the_text():
    payload = dingtalk_payload(MESSAGE)
    assert payload["msgtype"] == "text"
    assert payload["text"]["content"].endswith("https://gridgov.example/cases/7\n@13800000000")
    assert payload["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}


def test_the_dingtalk_signature_matches_a_hand_computation():
    timestamp = 1764547200000
    # DingTalk's rule (加签): sign = urlencode(base64(HMAC-SHA256(key=secret, message="timestamp\nsecret")))
    digest = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    by_hand = base64.b64encode(digest).decode()
    assert dingtalk_sign(SECRET, timestamp) == by_hand == "beCIjVlCpYUFqpzcNdT6u78BVxsbLWB2mvBuXQPjPXA="
    url = dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", SECRET, timestamp)
    assert url == (
        "https://oapi.dingtalk.com/robot/send?access_token=abc"
        f"&timestamp={timestamp}&sign=beCIjVlCpYUFqpzcNdT6u78BVxsbLWB2mvBuXQPjPXA%3D"
    )
    assert dingtalk_url("https://x/robot/send?access_token=abc", None) == "https://x/robot/send?access_token=abc"
    assert redact(url) == "https://oapi.dingtalk.com/robot/send"


# --- webhooks to a local endpoint ------------------------------------------------------------------------------


def test_webhooks_post_each_format_to_the_endpoint():
    with webhook_endpoint() as endpoint:
        post_webhook(
            DutyWebhook(name="w", format="wecom", url=endpoint.url("/cgi-bin/webhook/send?key=K")), MESSAGE, timeout=5
        )
        post_webhook(
            DutyWebhook(name="d", format="dingtalk", url=endpoint.url("/robot/send?access_token=T"), secret=SECRET),
            MESSAGE,
            timeout=5,
        )
        post_webhook(DutyWebhook(name="j", format="json", url=endpoint.url("/hooks/duty")), MESSAGE, timeout=5)
    wecom, ding, plain = endpoint.received
    assert wecom.query == {"key": ["K"]} and wecom.body == wecom_payload(MESSAGE)
    assert wecom.headers["content-type"] == "application/json; charset=utf-8"
    # the endpoint checks the signature the way DingTalk does
    timestamp = int(ding.query["timestamp"][0])
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert ding.query["sign"] == [expected] and ding.query["access_token"] == ["T"]
    assert abs(timestamp / 1000 - dt.datetime.now(dt.UTC).timestamp()) < 60
    assert ding.body == dingtalk_payload(MESSAGE)
    assert plain.body["kind"] == "overdue" and plain.body["case"] == {
        "id": 7,
        "number": "410105-20261201-000007",
        "url": "https://gridgov.example/cases/7",
    }


def test_a_robot_refusal_or_an_http_error_is_a_failed_delivery():
    with webhook_endpoint() as endpoint:
        endpoint.answers = [(200, {"errcode": 93000, "errmsg": "invalid webhook url"}), (500, {"oops": 1})]
        hook = DutyWebhook(name="w", format="wecom", url=endpoint.url("/send?key=K"))
        with pytest.raises(DeliveryFailed, match="robot refused.*93000"):
            post_webhook(hook, MESSAGE, timeout=5)
        with pytest.raises(DeliveryFailed, match="HTTP 500"):
            post_webhook(hook, MESSAGE, timeout=5)
    with pytest.raises(DeliveryFailed, match=r"webhook w \(http://127.0.0.1:9/send\): ConnectError"):
        post_webhook(
            DutyWebhook(name="w", format="wecom", url="http://127.0.0.1:9/send?key=SECRETKEY"), MESSAGE, timeout=2
        )


def test_the_webhook_notifier_addresses_the_robots_serving_the_centres():
    settings = Settings(
        duty_webhooks=[
            {"name": "west", "format": "wecom", "url": "http://x/1", "centres": ["410105001"]},
            {"name": "all", "format": "dingtalk", "url": "http://x/2"},
            {"name": "east", "format": "json", "url": "http://x/3", "centres": ["410105002"]},
        ]
    )
    people = [
        Recipient(user_id=1, username="a", name="甲", centre_code="410105001", is_leader=True, mobile="13800000001"),
        Recipient(user_id=2, username="b", name="乙", centre_code="410105", mobile=None),
    ]
    found = WebhookNotifier().addresses(settings=settings, centre_codes=["410105001", "410105"], recipients=people)
    assert [(a.recipient, [m["name"] for m in a.mentions]) for a in found] == [
        ("webhook:west", ["甲"]),
        ("webhook:all", ["甲", "乙"]),
    ]


# --- e-mail to a local SMTP sink -------------------------------------------------------------------------------


def test_email_is_delivered_to_the_smtp_server():
    with smtp_sink() as sink:
        settings = Settings(
            duty_smtp_host="127.0.0.1",
            duty_smtp_port=sink.port,
            duty_smtp_user="duty-bot",
            duty_smtp_password="pw",
            duty_smtp_from="gridgov@duty.example",
        )
        EmailNotifier().send(settings=settings, address="w_disp3@duty.example", message=MESSAGE)
    ((sender, recipients, mail),) = sink.messages
    assert (sender, recipients) == ("gridgov@duty.example", ["w_disp3@duty.example"])
    assert sink.logins == [("duty-bot", "pw")]
    assert mail["Subject"] == MESSAGE.subject and mail["X-Gridgov-Case"] == MESSAGE.case_number
    assert mail.get_content().replace("\r\n", "\n").strip() == MESSAGE.text


def test_email_without_a_server_or_to_a_closed_port_fails():
    with pytest.raises(DeliveryFailed, match="no SMTP server"):
        EmailNotifier().send(settings=Settings(), address="a@duty.example", message=MESSAGE)
    closed = Settings(duty_smtp_host="127.0.0.1", duty_smtp_port=9, duty_notify_timeout_s=2)
    with pytest.raises(DeliveryFailed, match="SMTP 127.0.0.1:9"):
        EmailNotifier().send(settings=closed, address="a@duty.example", message=MESSAGE)
    people = [Recipient(user_id=3, username="c", name="丙", centre_code="410105", email=None)]
    (address,) = EmailNotifier().addresses(settings=closed, centre_codes=["410105"], recipients=people)
    assert address.skip_reason == "no e-mail address in the duty contacts"


# --- registry --------------------------------------------------------------------------------------------------


class Sms(Notifier):
    slug = "sms"
    description = "a plugin"

    def addresses(self, *, settings, centre_codes, recipients):
        return []

    def send(self, *, settings, address, message):
        return None


def test_the_registry_holds_the_builtins_and_plugins_and_is_read_only():
    registry = build_registry([Sms()])
    assert list(registry) == ["log", "email", "webhook", "sms"]
    with pytest.raises(TypeError):
        registry["x"] = Sms()  # type: ignore[index]
    chosen, unknown = enabled(Settings(duty_notifiers=" log, sms,nope ,log"), registry)
    assert [n.slug for n in chosen] == ["log", "sms"] and unknown == ["nope"]
    assert enabled(Settings(duty_notifiers=""), registry) == ([], [])
    assert isinstance(build_registry()["log"], LogNotifier)


def test_duplicate_webhook_names_are_refused_at_start():
    with pytest.raises(ValueError, match="unique; repeated: a"):
        Settings(
            duty_webhooks=[
                {"name": "a", "format": "wecom", "url": "http://x/1"},
                {"name": "a", "format": "json", "url": "http://x/2"},
            ]
        )


# --- the job, end to end through e-mail and a webhook ----------------------------------------------------------


@pytest.fixture
def join(db: Session):
    @contextmanager
    def _join(_write: bool) -> Iterator[Session]:
        with db.begin_nested():
            yield db

    return _join


def test_the_job_sends_urgent_cases_by_email_and_webhook_and_retries_a_failing_robot(db, duty, settings, join):
    duty.set(duty.west, dt.date(2026, 12, 1), "early", "w_disp1", "w_disp2")
    duty.set(duty.district, dt.date(2026, 12, 1), "early", "d_leader")
    user = service.get_user(db=db, username="w_disp1")
    service.set_contact(db=db, user=user, email="w_disp1@duty.example", mobile="138 0000 0001", actor=OPERATOR)
    case = intake.submit(
        db=db, report=report("BJ0101"), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10))
    ).case
    with smtp_sink() as sink, webhook_endpoint() as endpoint:
        endpoint.answers = [(502, {"error": "bad gateway"})]
        configured = settings.model_copy(
            update={
                "duty_notifiers": "email,webhook",
                "duty_smtp_host": "127.0.0.1",
                "duty_smtp_port": sink.port,
                "duty_notify_retry_s": 30.0,
                "duty_console_url": "https://gridgov.example/",
                "duty_webhooks": [
                    DutyWebhook(name="west", format="wecom", url=endpoint.url("/send?key=K"), centres=["410105001"])
                ],
            }
        )
        first = jobs.run_notifications(now=local(2026, 12, 1, 10, 1), open_tx=join, settings=configured)
        assert (first.delivered, first.retrying) == (1, 1)  # the e-mail; the robot answered 502
        ((_, recipients, mail),) = sink.messages
        assert recipients == ["w_disp1@duty.example"]
        assert f"https://gridgov.example/cases/{case.id}" in mail.get_content()
        skipped = db.scalars(select(DutyDelivery).where(DutyDelivery.status == DeliveryStatus.skipped)).all()
        assert sorted(d.recipient for d in skipped) == sorted(
            f"user:{duty.users[u].id}" for u in ("w_disp2", "d_leader")
        )  # no e-mail address on record
        assert (
            jobs.run_notifications(now=local(2026, 12, 1, 10, 1, 20), open_tx=join, settings=configured).retrying == 0
        )
        second = jobs.run_notifications(now=local(2026, 12, 1, 10, 1, 30), open_tx=join, settings=configured)
        assert second.delivered == 1
    assert len(endpoint.received) == 2 and endpoint.received[1].body == endpoint.received[0].body
    body = endpoint.received[1].body
    assert body["text"]["mentioned_mobile_list"] == ["13800000001"]
    assert body["text"]["content"].startswith(f"【紧急案件】{case.number}")
    robot = db.scalars(select(DutyDelivery).where(DutyDelivery.notifier == "webhook")).one()
    assert (robot.status, robot.attempts, robot.recipient, robot.address) == (
        DeliveryStatus.delivered,
        2,
        "webhook:west",
        "west",
    )
    assert "K" not in (robot.last_error or "")  # the robot's key is never stored
