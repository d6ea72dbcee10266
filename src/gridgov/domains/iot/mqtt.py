"""The MQTT telemetry subscriber (paho-mqtt 2.x), for any MQTT 3.1.1/5 broker: Mosquitto, EMQX, ...

Topics (``{prefix}`` = ``GRIDGOV_MQTT_TOPIC_PREFIX``, default ``gridgov``), subscribed with QoS 1:

- ``{prefix}/telemetry/{device_code}``: the payload is one reading without "device" (or naming the same device),
  a list of them, or ``{"readings": [...]}``;
- ``{prefix}/telemetry``: the same payloads, each reading naming its "device" (a gateway's batch).

"Ingest acknowledges only what it has stored": the session is persistent (clean_session false, a stable client
id), so the broker queues messages while the subscriber is down, and every QoS 1 message is acknowledged
(PUBACK, paho manual acknowledgement) only after the transaction that stored it has committed. A message whose
transaction fails for a passing reason (database busy or down) is retried, and if the process stops first it is
not acknowledged, so the broker delivers it again; the stored readings make a second delivery a no-op. A poison
message (not JSON, wrong shape, or one that makes ingest fail) is logged, counted and acknowledged, so it is not
redelivered forever. Messages waiting together are stored in one transaction (at most `max_batch`), then all
acknowledged, in the order they arrived.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from gridgov.config import Settings, get_settings
from gridgov.core import clock
from gridgov.core.db import Busy, transaction
from gridgov.core.errors import InputError
from gridgov.domains.iot import telemetry

log = logging.getLogger(__name__)

SOURCE = "mqtt"
QOS = 1
DEFAULT_SUFFIX = "ingest"


@dataclass(frozen=True)
class Broker:
    """Where the broker is and how to log in, from GRIDGOV_MQTT_URL (mqtt:// or mqtts://user:password@host:port)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never shows the password
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_url(url: str) -> Broker:
    """Returns the broker of an mqtt:// or mqtts:// URL; raises ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, not {parts.scheme or '(none)'}://")
    if not parts.hostname:
        raise ValueError("MQTT URL names no host")
    tls = parts.scheme in ("mqtts", "ssl")
    return Broker(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def topic_filters(prefix: str, share_group: str | None = None) -> list[str]:
    """Returns the topic filters the subscriber subscribes to (shared: `$share/<group>/...`, for several workers)."""
    filters = [f"{prefix}/telemetry", f"{prefix}/telemetry/+"]
    return [f"$share/{share_group}/{f}" for f in filters] if share_group else filters


def device_of(topic: str, prefix: str) -> str | None:
    """Returns the device code a topic names ({prefix}/telemetry/{code}), None for {prefix}/telemetry."""
    base = f"{prefix}/telemetry"
    if topic == base:
        return None
    if topic.startswith(base + "/") and "/" not in topic[len(base) + 1 :] and topic[len(base) + 1 :]:
        return topic[len(base) + 1 :]
    raise ValueError(f"topic {topic!r} is not {base} or {base}/<device>")


class MqttStatus:
    """What this process's subscriber has done since start (for /iot/telemetry/stats)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Sets every counter to zero (tests)."""
        with self._lock:
            self.counts: dict[str, int] = {}
            self.connected = False
            self.subscribed = False
            self.client_id: str | None = None
            self.broker: str | None = None
            self.last_error: str | None = None

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def get(self, what: str) -> int:
        with self._lock:
            return self.counts.get(what, 0)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "running": self.client_id is not None,
                "connected": self.connected,
                "subscribed": self.subscribed,
                "client_id": self.client_id,
                "broker": self.broker,
                "last_error": self.last_error,
                **self.counts,
            }


STATUS = MqttStatus()


@dataclass(frozen=True)
class Message:
    """One received message and what is needed to acknowledge it on the connection it came on."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int
    dup: bool = False


def _transient(exc: BaseException) -> bool:
    """Tells whether a failure is the database's passing state (retry later) rather than the message's fault."""
    if isinstance(exc, Busy | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Subscriber:
    """Subscribes to the telemetry topics and stores each message through `telemetry.ingest`, acking after commit.

    The paho network thread only queues messages; one worker thread stores and acknowledges them in order.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        url: str,
        prefix: str = "gridgov",
        client_id: str = f"gridgov-{DEFAULT_SUFFIX}",
        share_group: str | None = None,
        max_batch: int = 200,
        keepalive: int = 30,
        now: Callable[[], dt.datetime] = clock.now,
    ) -> None:
        self.engine, self.broker, self.prefix, self.client_id = engine, parse_url(url), prefix, client_id
        self.share_group, self.max_batch, self.keepalive, self.now = share_group, max(1, max_batch), keepalive, now
        self._queue: queue.Queue[Message] = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._busy = threading.Event()
        self._generation = 0
        self._worker = threading.Thread(target=self._work, name="gridgov-mqtt-ingest", daemon=True)
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
            manual_ack=True,
        )
        if self.broker.username:
            self.client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            self.client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    @classmethod
    def from_settings(
        cls, engine: Engine, settings: Settings | None = None, *, suffix: str = DEFAULT_SUFFIX, **kwargs: Any
    ) -> Subscriber:
        """Returns a subscriber to GRIDGOV_MQTT_URL with client id `<GRIDGOV_MQTT_CLIENT_ID>-<suffix>`."""
        settings = settings or get_settings()
        if not settings.mqtt_url:
            raise ValueError("GRIDGOV_MQTT_URL is not set")
        return cls(
            engine=engine,
            url=settings.mqtt_url,
            prefix=settings.mqtt_topic_prefix,
            client_id=f"{settings.mqtt_client_id}-{suffix}",
            **kwargs,
        )

    # --- life ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connects (in the background, retrying with backoff) and starts storing messages."""
        STATUS.client_id, STATUS.broker = self.client_id, str(self.broker)
        self._worker.start()
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.keepalive)
        self.client.loop_start()
        log.info("MQTT subscriber %s connecting to %s", self.client_id, self.broker)

    def stop(self, timeout: float = 10.0) -> None:
        """Finishes the batch in hand (stored and acked), then disconnects; queued messages stay with the broker."""
        self._stop.set()
        self._worker.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        STATUS.connected = STATUS.subscribed = False
        log.info("MQTT subscriber %s stopped", self.client_id)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Waits until connected and the broker has granted the subscription; returns whether it has."""
        return self._connected.wait(timeout)

    def wait_idle(self, timeout: float = 10.0, settle: float = 0.2) -> bool:
        """Waits until no message has been waiting or in hand for `settle` seconds (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self._queue.empty() and not self._busy.is_set():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(0.01)
        return False

    # --- paho callbacks (network thread) -----------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _userdata: Any, flags: Any, reason_code: Any, _props: Any) -> None:
        if reason_code.is_failure:
            STATUS.last_error = f"connect refused: {reason_code}"
            log.error("MQTT broker %s refused %s: %s", self.broker, self.client_id, reason_code)
            return
        # NOTE: message ids belong to a connection; a message received on an earlier one is never acked on this
        # one (the broker redelivers it, and the stored readings make that a no-op).
        self._generation += 1
        client.subscribe([(f, QOS) for f in topic_filters(self.prefix, self.share_group)])
        STATUS.connected = True
        STATUS.count("connects")
        log.info("MQTT connected to %s as %s (session present: %s)", self.broker, self.client_id, flags.session_present)

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, _mid: int, reason_codes: list[Any], _props: Any
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            STATUS.last_error = f"subscription refused: {', '.join(refused)}"
            log.error("MQTT broker %s refused the telemetry subscription: %s", self.broker, ", ".join(refused))
            return
        STATUS.subscribed = True
        self._connected.set()

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        STATUS.connected = STATUS.subscribed = False
        self._connected.clear()
        if not self._stop.is_set():
            STATUS.last_error = f"disconnected: {reason_code}"
            log.warning("MQTT disconnected from %s (%s); reconnecting with backoff", self.broker, reason_code)

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        STATUS.count("messages")
        if message.dup:
            STATUS.count("redelivered")
        self._queue.put(
            Message(
                mid=message.mid,
                qos=message.qos,
                topic=message.topic,
                payload=message.payload,
                generation=self._generation,
                dup=bool(message.dup),
            )
        )

    # --- worker thread -----------------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._busy.set()
            try:
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if self.handle(batch):
                    self._ack(batch)
            except Exception:  # never let the worker die: log and go on with the next messages
                log.exception("MQTT worker failed on a batch")
            finally:
                self._busy.clear()

    def handle(self, batch: list[Message]) -> bool:
        """Stores a batch of messages in one transaction; returns True when all may be acknowledged.

        Returns False only when stopping before a passing database failure ended (nothing is acked then).
        """
        readings: list[Any] = []
        usable: list[Message] = []
        for message in batch:
            found = self._readings(message)
            if found is not None:
                readings.extend(found)
                usable.append(message)
        if not readings:
            return True
        if len(readings) > telemetry.MAX_BATCH and len(usable) > 1:
            return self._one_by_one(usable)
        delay = 0.5
        while True:
            try:
                with transaction(self.engine) as db:
                    result = telemetry.ingest(db=db, messages=readings, now=self.now(), source=SOURCE, count=False)
            except Exception as exc:
                if _transient(exc):
                    STATUS.last_error = f"database: {exc.__class__.__name__}"
                    log.warning("MQTT batch not stored (%s); retrying in %.1f s", exc.__class__.__name__, delay)
                    if self._stop.wait(delay):
                        return False
                    delay = min(delay * 2, 30.0)
                    continue
                if len(usable) > 1:
                    # NOTE: find the message at fault: each on its own, so the others are still stored.
                    return self._one_by_one(usable)
                self._poison(usable[0], exc)
                return True
            break
        telemetry.STATS.add(result, SOURCE)
        STATUS.count("transactions")
        STATUS.count("readings_accepted", result.accepted)
        STATUS.count("readings_duplicate", result.duplicates)
        STATUS.count("readings_rejected", len(result.rejected))
        return True

    def _one_by_one(self, messages: list[Message]) -> bool:
        # NOTE: every message is handled even after one returns False (no short-circuit).
        done = [self.handle([message]) for message in messages]
        return all(done)

    def _readings(self, message: Message) -> list[Any] | None:
        try:
            device = device_of(message.topic, self.prefix)
            return telemetry.readings_of(json.loads(message.payload), device=device)
        except (ValueError, telemetry.PayloadError) as exc:  # JSON and UTF-8 errors are ValueErrors
            self._poison(message, exc)
            return None

    def _poison(self, message: Message, exc: BaseException) -> None:
        STATUS.count("poison")
        telemetry.STATS.count(SOURCE, "poison")
        detail = str(exc).splitlines()[0][:200] if not isinstance(exc, InputError) else exc.summary
        log.warning("MQTT poison message on %s acknowledged and dropped: %s", message.topic, detail)

    def _ack(self, batch: list[Message]) -> None:
        for message in batch:
            if message.qos == 0:
                continue
            if message.generation != self._generation:
                STATUS.count("ack_skipped_reconnected")
                continue
            self.client.ack(message.mid, message.qos)
        STATUS.count("acked", len(batch))


def run(*, engine: Engine, settings: Settings | None = None, suffix: str = DEFAULT_SUFFIX, **kwargs: Any) -> None:
    """Runs a subscriber in the foreground until SIGINT or SIGTERM."""
    import signal

    subscriber = Subscriber.from_settings(engine, settings, suffix=suffix, **kwargs)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    subscriber.start()
    stop.wait()
    subscriber.stop()
