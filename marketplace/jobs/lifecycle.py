"""One lifecycle for every kind of job row: photo jobs (`ImageJob`), training runs and re-index runs.

Why the database and not the broker: a killed worker's message comes back only after the broker's visibility timeout
plus a restore scan (about two minutes here), and a task running longer than that timeout is delivered again while
it still runs (docs/FACTS.md). So each row carries its own claim, and the rules are the same for every kind:

- **claim**: one conditional UPDATE takes the row for a delivery (its `claim token`, the task id) with a lease. The
  row is free when unclaimed, held by this very token (a redelivery of the same message), or when the holder's lease
  lapsed. A duplicate delivery finds it held and does nothing.
- **heartbeat**: while the work runs, a thread renews the lease every quarter of its length, so a short lease is
  safe for long stages and a crash is noticed within one lease, not one visibility timeout.
- **release**: the holder clears the claim when it hands the row on or finishes; every write the holder makes is
  conditional on still holding the token, so a delivery that lost its claim cannot write results.
- **sweep**: a lapsed lease, or a row waiting with no recent publish (the broker was down, or lost the message), is
  published again. Publishing twice is harmless: the claim decides who works.

The model needs the fields `state`, `claimed_by`, `lease_expires_at` and `published_at`.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

# Rows created this recently are left to their own publish-on-commit (it runs just after the creating transaction).
CREATE_GRACE_SECONDS = 5


def lease_until(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def free_for(token: str, now=None) -> Q:
    """Rows this delivery may take: unclaimed, already its own, or held by a delivery whose lease lapsed."""
    now = now or timezone.now()
    return Q(claimed_by="") | Q(claimed_by=token) | Q(lease_expires_at__lt=now)


def claim(model, pk: int, token: str, *, from_states, lease_seconds: float, extra: Q | None = None,
          **updates) -> bool:
    """Take row `pk` for `token` if it is in one of `from_states` and free; `updates` are written with the claim."""
    now = timezone.now()
    q = Q(pk=pk) & Q(state__in=list(from_states)) & free_for(token, now)
    if extra is not None:
        q &= extra
    lease = now + timedelta(seconds=lease_seconds)
    return bool(model.objects.filter(q).update(claimed_by=token, lease_expires_at=lease, **updates))


def claim_many(model, pks, token: str, *, from_states, lease_seconds: float, extra: Q | None = None,
               read_back: bool = True, **updates) -> list[int] | None:
    """`claim` for several rows in one conditional UPDATE (a batch collector); returns the pks this token now holds
    (`read_back=False`: returns None, for a caller that reads the rows it holds itself).

    Each row is taken by the same rule as `claim`, so a row another live delivery holds is left alone."""
    pks = list(pks)
    if not pks:
        return []
    now = timezone.now()
    q = Q(pk__in=pks) & Q(state__in=list(from_states)) & free_for(token, now)
    if extra is not None:
        q &= extra
    model.objects.filter(q).update(claimed_by=token, lease_expires_at=now + timedelta(seconds=lease_seconds),
                                   **updates)
    if not read_back:
        return None
    return list(model.objects.filter(pk__in=pks, claimed_by=token).values_list("pk", flat=True))


def renew(model, pk: int | Sequence[int], token: str, *, lease_seconds: float, extra: Q | None = None,
          **updates) -> int:
    """Extend the lease (and write `updates`) of the row, or of each of the rows, that `token` still holds; returns
    how many (0: it lost them all)."""
    qs = model.objects.filter(claimed_by=token, **({"pk": pk} if isinstance(pk, int) else {"pk__in": list(pk)}))
    if extra is not None:
        qs = qs.filter(extra)
    return qs.update(lease_expires_at=lease_until(lease_seconds), **updates)


def release(model, pk: int, token: str, *, extra: Q | None = None, **updates) -> bool:
    """Clear the claim (and write `updates`, e.g. the next or final state) if `token` still holds the row."""
    qs = model.objects.filter(pk=pk, claimed_by=token)
    if extra is not None:
        qs = qs.filter(extra)
    return bool(qs.update(claimed_by="", lease_expires_at=None, **updates))


def due_for_publish(model, *, waiting_states, running_states, stale_after_seconds: float):
    """The sweeper's rule, as a queryset of primary keys: rows whose holder's lease lapsed (the worker died), and
    unclaimed rows waiting without a recent publish (the publish failed or the broker lost the message)."""
    now = timezone.now()
    stale = now - timedelta(seconds=stale_after_seconds)
    settled = now - timedelta(seconds=CREATE_GRACE_SECONDS)
    not_published = (Q(published_at__isnull=True) & Q(created_at__lt=settled)) | Q(published_at__lt=stale)
    lapsed = Q(state__in=list(running_states)) & Q(lease_expires_at__lt=now)
    waiting = Q(state__in=list(waiting_states) + list(running_states)) & Q(claimed_by="") & not_published
    return model.objects.filter(lapsed | waiting).order_by("pk").values_list("pk", flat=True)


def mark_published(model, pk: int, at=None) -> None:
    """`at`: when the publish began (a worker may claim the row before this write lands)."""
    model.objects.filter(pk=pk).update(published_at=at or timezone.now())


class Heartbeat:
    """Renew a claim's lease from a background thread while the work runs (`with Heartbeat(...) as hb:`).

    `pks`: one row, or every row a batch holds: one thread and one UPDATE a beat for all of them (a thread per row
    cost a batch of 16 sixteen thread starts and joins on its way, and sixteen UPDATEs a beat). `hb.lost` is set
    when a renewal finds none of them held any more (taken over after a stall, or cancelled); the work checks it at
    its next step, and every write it makes is conditional on the claim anyway. The thread uses its own database
    connection and closes it on exit."""

    def __init__(self, model, pks: int | Sequence[int], token: str, *, lease_seconds: float, extra: Q | None = None,
                 interval: float | None = None):
        self.model, self.token, self.extra = model, token, extra
        self.pks = [pks] if isinstance(pks, int) else list(pks)
        self.lease_seconds = lease_seconds
        self.interval = interval or max(0.5, lease_seconds / 4)
        self.lost = threading.Event()
        self._stop = threading.Event()
        more = f"+{len(self.pks) - 1}" if len(self.pks) > 1 else ""
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{model.__name__}-{self.pks[0]}{more}",
                                        daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not renew(self.model, self.pks, self.token, lease_seconds=self.lease_seconds,
                                 extra=self.extra):
                        self.lost.set()
                        return
                except Exception:  # a locked or unreachable database: try again at the next beat
                    log.warning("heartbeat of %s %s failed", self.model.__name__, self.pks, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()
