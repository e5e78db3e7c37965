"""Claim files: each run is trained by exactly one worker, even across machines on a shared filesystem.

A claim is ``<run_dir>/claim``, created with O_CREAT|O_EXCL (atomic on local and NFS filesystems).
Its owner touches it as a heartbeat; a claim not touched for ``lease_s`` seconds is stale (its worker
died) and may be taken over: the taker renames it to a unique name first (only one rename of the same
file can succeed), then creates its own. An owner whose claim was taken over stops at its next heartbeat.

An owner id may be stable across restarts of the same job (a requeued SLURM array task, a retried Ray
task): such a job takes its own claim back at once instead of waiting out the lease. Each acquisition
writes a fresh token, so an earlier incarnation that is somehow still alive loses at its next heartbeat.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from filelock import FileLock

CLAIM_FILE = "claim"


class ClaimLost(RuntimeError):
    """Raised in a worker whose claim expired and was taken over by another worker."""


def new_owner_id() -> str:
    """A worker identity: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _read_claim(path: Path) -> dict:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


class Claim:
    """An exclusive, leased claim on one run directory."""

    def __init__(self, run_dir: Path, owner: str, lease_s: float = 300.0, heartbeat_s: float = 5.0):
        self.path, self.owner = Path(run_dir) / CLAIM_FILE, owner
        self.lease_s, self.heartbeat_s, self._last_beat = lease_s, heartbeat_s, 0.0
        self.token = uuid.uuid4().hex

    def is_stale(self) -> bool:
        """Whether an existing claim has gone unrenewed for longer than the lease."""
        try:
            return time.time() - self.path.stat().st_mtime > self.lease_s
        except FileNotFoundError:
            return True

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as handle:
            json.dump({"owner": self.owner, "token": self.token, "claimed_at": time.time()}, handle)
        self._last_beat = time.time()
        return True

    def acquire(self) -> bool:
        """Take the claim if it is free, stale or already ours; False if another live worker holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._create():
            return True
        # Takeovers are serialised: without the lock, two takers of one stale claim could each rename
        # away the other's fresh claim and both believe they hold the run.
        with FileLock(str(self.path.with_name(f"{CLAIM_FILE}.takeover.lock"))):
            if not self.is_stale() and _read_claim(self.path).get("owner") != self.owner:
                return False
            graveyard = self.path.with_name(f"{CLAIM_FILE}.stale.{uuid.uuid4().hex[:8]}")
            try:
                os.rename(self.path, graveyard)
            except FileNotFoundError:
                pass  # its owner released it meanwhile
            graveyard.unlink(missing_ok=True)
            return self._create()

    def heartbeat(self) -> None:
        """Renew the lease (throttled); raise ClaimLost if the claim now belongs to someone else."""
        now = time.time()
        if now - self._last_beat < self.heartbeat_s:
            return
        if _read_claim(self.path).get("token") != self.token:
            raise ClaimLost(f"{self.path}: claim was taken over by another worker")
        os.utime(self.path)
        self._last_beat = now

    @contextmanager
    def kept_alive(self) -> Iterator[Callable[[], None]]:
        """Renew the lease from a background thread for the whole block (data loading and evals included).

        Yields a cheap check for the training loop to call every step: it raises ClaimLost once the
        thread has seen the claim taken over by another worker.
        """
        stop, lost = threading.Event(), threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat_s):
                try:
                    self.heartbeat()
                except ClaimLost:
                    lost.set()
                    return
                except OSError:
                    continue  # a transient filesystem hiccup: try again next beat

        def check() -> None:
            if lost.is_set():
                raise ClaimLost(f"{self.path}: claim was taken over by another worker")

        thread = threading.Thread(target=beat, name=f"claim-heartbeat-{self.path.parent.name}", daemon=True)
        thread.start()
        try:
            yield check
        finally:
            stop.set()
            thread.join()

    def release(self) -> None:
        """Remove the claim if this worker still owns it."""
        if _read_claim(self.path).get("token") == self.token:
            self.path.unlink(missing_ok=True)


def claim_state(run_dir: Path, lease_s: float = 300.0) -> Optional[str]:
    """'running' for a fresh claim, 'stale' for an expired one, None when unclaimed."""
    claim = Claim(run_dir, owner="", lease_s=lease_s)
    if not claim.path.exists():
        return None
    return "stale" if claim.is_stale() else "running"
