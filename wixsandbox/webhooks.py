"""Signed webhook delivery in Wix's shape: a JWT (RS256) POSTed as the request body.

Events are queued in the order the store makes changes (it calls us under its lock) and one
background thread delivers them in that order, retrying a few times with a short backoff.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .clock import iso, now_ms

TOKEN_LIFETIME = 300
RETRY_DELAYS = (0.1, 0.3, 0.9)
IDENTITY = json.dumps({"identityType": "APP", "appId": "sandbox"})


def load_or_create_private_key(path: str | None) -> bytes:
    if path and Path(path).exists():
        return Path(path).read_bytes()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if path:
        Path(path).write_bytes(pem)
        Path(path).chmod(0o600)
    return pem


def public_key_pem(private_pem: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class Webhooks:
    def __init__(self, *, instance_id: str, private_pem: bytes, url: str | None = None):
        # Wix sends the app instance id, which differs from the site id.
        self.instance_id = instance_id
        self.url = url
        self._private_pem = private_pem
        self.public_pem = public_key_pem(private_pem)
        self.delivered = 0
        self.failed = 0
        self._queue: deque[tuple[str, str, dict]] = deque()
        self._busy = False
        self._changed = threading.Condition()
        threading.Thread(target=self._run, name="webhooks", daemon=True).start()

    def listener(
        self, event_type: str, fqdn: str, slug: str, entity_id: str, entity: Callable
    ) -> None:
        url = self.url
        if not url:
            return
        envelope = {
            "id": str(uuid.uuid4()),
            "entityFqdn": fqdn,
            "slug": slug,
            "entityId": entity_id,
            "eventTime": iso(now_ms()),
            "triggeredByAnonymizeRequest": False,
        }
        # Entities as objects, as Wix documents them (`entityAsJson` strings also occur; the
        # app reads both).
        if slug == "created":
            envelope["createdEvent"] = {"entity": json.loads(entity())}
        elif slug == "updated":
            envelope["updatedEvent"] = {"currentEntity": json.loads(entity())}
        else:
            envelope["deletedEvent"] = {}
        with self._changed:
            self._queue.append((url, event_type, envelope))
            self._changed.notify_all()

    def flush(self, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return {"delivered": self.delivered, "failed": self.failed, "pending": len(self._queue)}

    def sign(self, event_type: str, envelope: dict) -> str:
        issued = int(time.time())
        inner = {
            "eventType": event_type,
            "instanceId": self.instance_id,
            "data": json.dumps(envelope),
            "identity": IDENTITY,
        }
        payload = {"data": json.dumps(inner), "iat": issued, "exp": issued + TOKEN_LIFETIME}
        return jwt.encode(payload, self._private_pem, algorithm="RS256")

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue:
                    self._changed.wait()
                url, event_type, envelope = self._queue.popleft()
                self._busy = True
            ok = self._deliver(url, self.sign(event_type, envelope))
            with self._changed:
                if ok:
                    self.delivered += 1
                else:
                    self.failed += 1
                self._busy = False
                self._changed.notify_all()

    def _deliver(self, url: str, token: str) -> bool:
        if not url.startswith(("http://", "https://")):
            print(f"wixsandbox: webhook url {url!r} is not http(s)", file=sys.stderr)
            return False
        for delay in (*RETRY_DELAYS, None):
            request = urllib.request.Request(  # noqa: S310 - scheme checked above
                url, data=token.encode(), headers={"Content-Type": "text/plain"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    if 200 <= response.status < 300:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            if delay is None:
                break
            time.sleep(delay)
        print(f"wixsandbox: webhook to {url} failed after retries", file=sys.stderr)
        return False
