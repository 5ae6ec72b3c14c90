"""Which process does a piece of work, and whether it still runs: work (a sync run, a change in
the journal, a bulk job) records `this_process()`, and whoever finds it unfinished asks
`process_running()` before taking it over."""

from __future__ import annotations

import os
import socket


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_running(process: str) -> bool | None:
    """True or False for a process of this machine; None for another machine's (or none)."""
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # running, as another user
    return True
