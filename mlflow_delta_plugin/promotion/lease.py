"""A promotion lease: at most one promotion of a registered model moves its aliases at a time.

The model registry has no compare-and-swap, and setting an alias or a tag simply overwrites.
Two promotions racing on one model could both read champion ``v1``, both judge against it and
both move ``champion``; the loser would overwrite the winner and record ``previous_champion``
as ``v1`` although ``v2`` was champion in between.

Design: **claim, then look** (mutual exclusion from ordered writes and reads, no timing bound).

1. Each contender writes its own claim as a registered-model tag under its own key,
   ``promotion.lease.<token>`` = ``{"owner", "run_id", "expires_at"}``. No two contenders
   ever write the same key, so no claim can be overwritten.
2. It then reads all tags. If no *other* live claim exists, it holds the lease. Otherwise it
   deletes its claim, waits a random, growing back-off and tries again (until ``wait_s``).
3. It releases by deleting its own key, in ``finally``.

Why it is safe: a contender's write comes before its own read. Of two contenders A and B,
whichever reads second reads after both writes and sees the other's claim, so at most one of
them sees no other claim. The only assumption is read-after-write consistency of registry
tags (a read that starts after a write returned sees it), which SQL stores, the MLflow
tracking server and Databricks provide. Contention costs retries, never safety; the random
back-off breaks ties.

A claim expires after ``ttl_s`` so a crashed promotion cannot block the model forever; expired
claims are ignored and cleaned up by the next contender. The holder calls :meth:`check`
right before it moves aliases and refuses to go on when its claim is gone or close to expiry,
so a stalled holder does not write after others may have taken over.

Example:
    >>> with PromotionLease(MlflowClient(), "my_model", owner="alice") as lease:  # doctest: +SKIP
    ...     lease.check()
    ...     ...  # read champion, decide, move aliases, write the record
"""

import json
import logging
import random
import time
import uuid
from contextlib import suppress
from typing import Optional

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_delta_plugin.errors import ConcurrentPromotionError, PromotionBusyError

__all__ = ["LEASE_TAG_PREFIX", "PromotionLease"]

LEASE_TAG_PREFIX = "promotion.lease."
"""Registered-model tag keys holding promotion claims (one key per contender)."""

_log = logging.getLogger(__name__)
_MAX_BACKOFF_S = 2.0


class PromotionLease:
    """Exclusive right to move the aliases of one registered model (see module docstring).

    Args:
        client: the registry client.
        model_name: the registered model.
        owner: who holds it, for humans (user, host, process).
        run_id: the MLflow run of the promotion, recorded in the claim.
        ttl_s: seconds until a claim expires if never released.
        wait_s: seconds to wait for a busy lease before :class:`PromotionBusyError`.
        poll_s: first back-off step.
    """

    def __init__(self, client: MlflowClient, model_name: str, owner: str,
                 run_id: Optional[str] = None, ttl_s: float = 120.0, wait_s: float = 120.0,
                 poll_s: float = 0.1) -> None:
        self.client = client
        self.model_name = model_name
        self.owner = owner
        self.run_id = run_id
        self.ttl_s = ttl_s
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.token = uuid.uuid4().hex
        self.key = LEASE_TAG_PREFIX + self.token
        self._expires_at = 0.0
        self.held = False

    def _claims(self) -> dict:
        """Live claims of others by token; expired or unreadable claims are deleted."""
        tags = self.client.get_registered_model(self.model_name).tags or {}
        now = time.time()
        live = {}
        for key, value in tags.items():
            if not key.startswith(LEASE_TAG_PREFIX) or key == self.key:
                continue
            try:
                claim = json.loads(value)
                expires_at = float(claim["expires_at"])
            except (ValueError, KeyError, TypeError):
                claim, expires_at = {}, 0.0
            if expires_at > now:
                live[key[len(LEASE_TAG_PREFIX):]] = claim
            else:
                self._delete(key)
        return live

    def _delete(self, key: str) -> None:
        with suppress(MlflowException):  # already gone: another contender cleaned it up
            self.client.delete_registered_model_tag(self.model_name, key)

    def _claim(self) -> None:
        self._expires_at = time.time() + self.ttl_s
        self.client.set_registered_model_tag(self.model_name, self.key, json.dumps(
            {"owner": self.owner, "run_id": self.run_id, "expires_at": self._expires_at}))

    def acquire(self) -> "PromotionLease":
        """Wait for and take the lease.

        Raises:
            PromotionBusyError: another promotion held it for longer than ``wait_s``.
        """
        deadline = time.monotonic() + self.wait_s
        attempt = 0
        while True:
            others = self._claims()
            if not others:
                self._claim()
                others = self._claims()
                if not others:
                    self.held = True
                    _log.info("promote: lease on '%s' taken (%s)", self.model_name, self.token)
                    return self
                self._delete(self.key)
            if time.monotonic() >= deadline:
                holder = next(iter(others.values()))
                raise PromotionBusyError(
                    f"registered model '{self.model_name}' is being promoted by "
                    f"{holder.get('owner', 'another process')} (run {holder.get('run_id')}); "
                    f"waited {self.wait_s:.0f}s, try again later"
                )
            backoff = min(self.poll_s * 2 ** min(attempt, 5), _MAX_BACKOFF_S)
            time.sleep(backoff * random.uniform(0.5, 1.5))
            attempt += 1

    def check(self) -> None:
        """Confirm the lease is still held and not about to expire.

        Raises:
            ConcurrentPromotionError: the claim is gone or expires within a few seconds.
        """
        tags = self.client.get_registered_model(self.model_name).tags or {}
        margin = min(5.0, self.ttl_s / 4)
        if not self.held or self.key not in tags or time.time() > self._expires_at - margin:
            raise ConcurrentPromotionError(
                f"the promotion lease on registered model '{self.model_name}' was lost (held "
                f"longer than its {self.ttl_s:.0f}s lifetime?); nothing was moved, run again"
            )

    def release(self) -> None:
        """Give the lease back (deletes this holder's claim only)."""
        if self.held:
            self._delete(self.key)
            self.held = False

    def __enter__(self) -> "PromotionLease":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
