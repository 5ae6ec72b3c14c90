"""`python -m wixsandbox`: run the sandbox until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from . import seed
from .faults import Faults
from .jobs import BulkJobs
from .ratelimit import SlidingWindow
from .server import App, SandboxServer
from .state import StateFile
from .store import Store
from .webhooks import Webhooks, load_or_create_private_key

DESCRIPTION = """\
A local stand-in for the Wix REST API: the Labels API and the label parts of Contacts v4,
answered with Wix's paths, JSON and error shapes. Point a Wix client at http://HOST:PORT
instead of https://www.wixapis.com, with `Authorization: <api key>` and `wix-site-id: <site id>`.
"""

EPILOG = """\
control API (no auth, never rate-limited or faulted), all JSON:
  GET  /_sandbox/health               {"ok": true, "contacts": n, "labels": n}
  POST /_sandbox/reset                {"contacts": N, "labels": M, "seed": S}  reseed
  POST /_sandbox/faults               {"spec": "500=0.05,...", "seed": 1}  ("" clears)
  POST /_sandbox/rate-limit           {"perMinute": 200}  (0 = off)
  GET  /_sandbox/stats                POST /_sandbox/stats/reset
  GET  /_sandbox/dump                 every label and every contact's id/revision/labelKeys
  POST /_sandbox/webhooks/url         {"url": "http://..." | null}
  POST /_sandbox/webhooks/flush       wait for pending deliveries (10 s)
  POST /_sandbox/tokens/revoke        every OAuth access token stops working (as on expiry)
  GET  /_sandbox/webhook-public-key   PEM text, to verify webhook JWTs
  POST /_sandbox/bulk-jobs/pace       {"itemsPerSecond": n}  (0 = unpaced)

examples:
  python -m wixsandbox --contacts 5000 --labels 40 --seed 7
  python -m wixsandbox --state var/sandbox.json --faults "500=0.05,latency=20-200ms" --fault-seed 1

See wixsandbox/README.md for the choices it makes where Wix's docs are silent.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wixsandbox",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = parser.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    net.add_argument(
        "--port", type=int, default=8765, help="port (default %(default)s; 0 picks a free one)"
    )
    net.add_argument("--quiet", action="store_true", help="no per-request log on stderr")
    auth = parser.add_argument_group("auth")
    auth.add_argument("--api-key", default="sandbox-api-key", help="default %(default)s")
    auth.add_argument("--site-id", default="sandbox-site-id", help="default %(default)s")
    auth.add_argument(
        "--app-id", default="sandbox-app-id", help="a Wix app's id, for OAuth (%(default)s)"
    )
    auth.add_argument("--app-secret", default="sandbox-app-secret", help="its secret (%(default)s)")
    auth.add_argument(
        "--token-lifetime",
        type=int,
        default=14400,
        help="seconds an access token from POST /oauth2/token lives (default %(default)s)",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--contacts", type=int, default=0, help="seed N contacts (default 0)")
    data.add_argument(
        "--labels", type=int, default=0, help="seed M user labels, besides the 2 system ones"
    )
    data.add_argument("--seed", type=int, default=1, help="seed for the data (default 1)")
    data.add_argument(
        "--state",
        metavar="FILE",
        help="keep data in FILE across restarts (loaded if it exists, then no seeding)",
    )
    data.add_argument(
        "--label-quota",
        type=int,
        default=10_000,
        help="user labels allowed before find-or-create answers 428 (default %(default)s)",
    )
    data.add_argument(
        "--bulk-items-per-second",
        type=int,
        default=2000,
        help="pace of bulk label jobs (default %(default)s; 0 = as fast as possible)",
    )
    trouble = parser.add_argument_group("rate limit and faults (Wix API paths only)")
    trouble.add_argument(
        "--rate-limit",
        type=int,
        default=200,
        metavar="PER_MINUTE",
        help="requests allowed in any 60 s window, else 429 (default %(default)s; 0 = off)",
    )
    trouble.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help='e.g. "500=0.05,503=0.02,429=0.05,reset=0.01,latency=20-200ms"',
    )
    trouble.add_argument("--fault-seed", type=int, help="seed for repeatable faults")
    hooks = parser.add_argument_group("webhooks")
    hooks.add_argument("--webhook-url", help="POST signed events for every change here")
    hooks.add_argument(
        "--instance-id",
        default="sandbox-instance-id",
        help="the app instance id that webhooks carry (default %(default)s; Wix's differs "
        "from the site id)",
    )
    hooks.add_argument(
        "--webhook-private-key",
        metavar="FILE",
        help="RSA private key PEM to sign with (generated and written here if missing)",
    )
    hooks.add_argument(
        "--webhook-public-key-out", metavar="FILE", help="write the public key PEM here"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = Faults(args.faults, args.fault_seed)
    except ValueError as error:
        parser.error(f"--faults: {error}")

    store = Store(label_quota=args.label_quota)
    private_pem = load_or_create_private_key(args.webhook_private_key)
    webhooks = Webhooks(instance_id=args.instance_id, private_pem=private_pem, url=args.webhook_url)
    if args.webhook_public_key_out:
        Path(args.webhook_public_key_out).write_text(webhooks.public_pem)
    store.listeners.append(webhooks.listener)

    state = StateFile(store, args.state) if args.state else None
    if state is None or not state.load():
        store.replace_all(*seed.generate(args.contacts, args.labels, args.seed))
        if state is not None:
            state.save()
    if state is not None:
        store.on_change = state.mark_dirty

    app = App(
        store=store,
        api_key=args.api_key,
        site_id=args.site_id,
        app_id=args.app_id,
        app_secret=args.app_secret,
        instance_id=args.instance_id,
        token_lifetime=args.token_lifetime,
        rate_limit=SlidingWindow(args.rate_limit),
        faults=faults,
        jobs=BulkJobs(store, args.bulk_items_per_second),
        webhooks=webhooks,
        quiet=args.quiet,
    )
    server = SandboxServer((args.host, args.port), app)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    print(f"wixsandbox listening on http://{args.host}:{server.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    if state is not None:
        state.close()
    print("wixsandbox stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
