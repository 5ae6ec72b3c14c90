"""Reading Wix webhooks: a JWT signed with Wix's private key (RS256) around one event.

`decode_event` checks the signature and unwraps the event into a `WixEvent` whose entity is a
`WixLabel` or a `WixContact`, so that nothing above reads webhook JSON. What to do with an event
is the sync's business (`sync.webhooks`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import jwt
import msgspec

from labelsite.wix.records import WixContact, WixLabel

ID_MAX_LENGTH = 100  # what the cache keeps of event types, event ids and entity ids


class WebhookRejected(Exception):
    """The request is not a webhook signed by Wix (answered 401)."""


class WebhookMalformed(Exception):
    """Signed, but not an event we can read (answered 400)."""


CLOCK_SKEW_SECONDS = 60  # leeway for `iat` and `exp` between Wix's clock and ours


@dataclass(frozen=True)
class WixEvent:
    instance_id: str
    event_type: str
    event_id: str
    entity_id: str
    event_time: datetime | None
    entity: WixLabel | WixContact | None

    @property
    def is_label(self) -> bool:
        return ".label_" in self.event_type

    @property
    def is_contact(self) -> bool:
        return ".contact_" in self.event_type

    @property
    def is_deletion(self) -> bool:
        return self.event_type.endswith("_deleted")


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > ID_MAX_LENGTH or "\x00" in value:
        raise ValueError("bad id")
    return value


def _has_nul(value: object) -> bool:
    """PostgreSQL cannot store NUL in text: an event carrying one is unreadable, not a 500."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _entity(body: dict, event_type: str) -> WixLabel | WixContact | None:
    raw = next(
        (
            _json(body[name])
            for name in ("entityAsJson", "entity", "currentEntityAsJson", "currentEntity")
            if body.get(name)
        ),
        None,
    )
    if raw is None:
        return None
    if not isinstance(raw, dict) or _has_nul(raw):
        raise ValueError("bad entity")
    if ".label_" in event_type:
        return msgspec.convert(raw, WixLabel)
    if ".contact_" in event_type:
        return msgspec.convert(raw, WixContact)
    return None


def decode_event(token: str, *, public_key: str) -> WixEvent:
    """The event in a webhook request's body; raises WebhookRejected or WebhookMalformed."""
    if not public_key:
        raise WebhookRejected("Webhooks are not configured (no WIX_WEBHOOK_PUBLIC_KEY).")
    try:
        claims = jwt.decode(
            token.strip(),
            public_key,
            algorithms=["RS256"],
            options={"require": ["exp", "iat"]},
            leeway=CLOCK_SKEW_SECONDS,
        )
    except jwt.InvalidTokenError as error:
        raise WebhookRejected(f"Invalid webhook signature or token: {error}.") from None
    try:
        outer = _json(claims["data"])
        envelope = _json(outer["data"])
        body = (
            envelope.get("createdEvent")
            or envelope.get("updatedEvent")
            or envelope.get("deletedEvent")
            or {}
        )
        event_type = _id(outer["eventType"])
        event_time = envelope.get("eventTime")
        return WixEvent(
            instance_id=str(outer.get("instanceId") or ""),
            event_type=event_type,
            event_id=_id(envelope["id"]),
            entity_id=_id(envelope["entityId"]),
            event_time=msgspec.convert(event_time, datetime) if event_time else None,
            entity=_entity(body, event_type),
        )
    except (KeyError, TypeError, ValueError, AttributeError, msgspec.ValidationError) as error:
        raise WebhookMalformed(f"Unreadable webhook event ({type(error).__name__}).") from None
