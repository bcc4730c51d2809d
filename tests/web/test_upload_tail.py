"""Issue #12's upload tail: the Server-Timing phases that show where an upload's time goes, and the web process's
SQLite write gate that keeps its threads from busy-waiting on each other for the write lock."""
import io
import threading
import time

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler
from PIL import Image

from marketplace.request_timing import ServerTiming, parse_header, timed_phase
from marketplace.sqlite_gated import base as gated
from tests.integration.helpers import client_for


def test_a_phase_counts_its_own_time_without_the_phases_nested_in_it():
    def view(request):
        with timed_phase("db"):
            time.sleep(0.03)
            with timed_phase("publish"):
                time.sleep(0.05)
        from django.http import HttpResponse
        return HttpResponse("ok")

    phases = parse_header(ServerTiming(view)(object())["Server-Timing"])
    assert 50 <= phases["publish"] < 50 + 25
    assert 30 <= phases["db"] < 30 + 25  # the nested publish is not counted twice
    assert phases["total"] >= phases["db"] + phases["publish"] and phases["app"] >= 0


def test_outside_a_request_a_phase_records_nothing():
    with timed_phase("validate"):
        pass  # no error, nothing to record into


@pytest.mark.django_db(transaction=True)
def test_an_upload_answers_with_its_phases_in_a_server_timing_header():
    seller = client_for("tina")
    listing = seller.post("/api/listings/", {"title": "t", "garment_type": "top"}, format="json").json()
    buf = io.BytesIO()
    Image.new("RGB", (96, 128), (10, 200, 30)).save(buf, format="JPEG")
    buf.seek(0)
    buf.name = "p.jpg"
    r = seller.post(f"/api/listings/{listing['id']}/photos/", {"image": buf}, format="multipart")
    assert r.status_code == 202, r.content
    phases = parse_header(r["Server-Timing"])
    assert {"validate", "file", "insert", "db", "app", "total"} <= set(phases)
    assert all(v >= 0 for v in phases.values())


# --- the write gate -------------------------------------------------------------------------------------------
@pytest.fixture
def gated_db(tmp_path, django_db_blocker):
    """A SQLite file opened through the gated engine, one connection per thread (as the web's threads have)."""
    handler = ConnectionHandler({"default": {"ENGINE": "marketplace.sqlite_gated", "NAME": str(tmp_path / "g.db"),
                                             "OPTIONS": {"timeout": 1, "transaction_mode": "IMMEDIATE"}}})
    with django_db_blocker.unblock():
        conn = handler["default"]
        with conn.cursor() as c:
            c.execute("CREATE TABLE t (n INTEGER)")
        yield handler
        handler.close_all()
    assert not gated._write_gate.locked()


def _begin(conn):
    conn.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)  # what atomic() does


def _end(conn, commit: bool = True):
    conn.commit() if commit else conn.rollback()
    conn.set_autocommit(True)


def test_a_second_thread_waits_in_the_process_until_the_first_commits(gated_db):
    first = gated_db["default"]
    _begin(first)
    with first.cursor() as c:
        c.execute("INSERT INTO t VALUES (1)")
    order = []

    def second():
        conn = gated_db["default"]  # this thread's own connection
        _begin(conn)
        order.append("second began")
        with conn.cursor() as c:
            c.execute("INSERT INTO t VALUES (2)")
        _end(conn)
        conn.close()

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.2)
    assert order == [] and gated._write_gate.locked()  # queued on the gate, not polling SQLite
    order.append("first commits")
    _end(first)
    t.join(5)
    assert order == ["first commits", "second began"]
    with first.cursor() as c:
        c.execute("SELECT n FROM t ORDER BY n")
        assert [r[0] for r in c.fetchall()] == [1, 2]


def test_rollback_and_close_release_the_gate(gated_db):
    conn = gated_db["default"]
    _begin(conn)
    assert gated._write_gate.locked()
    _end(conn, commit=False)
    assert not gated._write_gate.locked()
    _begin(conn)
    conn.close()  # a connection dropped mid-transaction (an error, a closed request) must not keep the gate
    assert not gated._write_gate.locked()


def test_a_writer_that_cannot_get_the_gate_in_time_gets_database_is_locked(gated_db):
    first = gated_db["default"]
    _begin(first)
    errors = []

    def second():
        conn = gated_db["default"]
        try:
            _begin(conn)
        except OperationalError as exc:
            errors.append(str(exc))
        finally:
            conn.close()

    t = threading.Thread(target=second)
    t.start()
    t.join(5)
    _end(first)
    assert errors and "database is locked" in errors[0]


@pytest.mark.django_db(transaction=True)
def test_a_photo_whose_rows_cannot_be_stored_leaves_no_file_behind(media_root, settings):
    """The file is written before the transaction (shorter SQLite write lock); a failed transaction removes it."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import IntegrityError

    from marketplace.listings.models import Listing
    from marketplace.listings.services import listing_photo_create

    settings.MEDIA_ROOT = str(media_root)
    seller = client_for("ulla")
    listing = Listing.objects.get(pk=seller.post("/api/listings/", {"title": "t", "garment_type": "top"},
                                                 format="json").json()["id"])
    Listing.objects.filter(pk=listing.pk).delete()  # gone by the time the rows are written: the insert fails
    buf = io.BytesIO()
    Image.new("RGB", (96, 128), (10, 200, 30)).save(buf, format="JPEG")
    before = {p for p in media_root.rglob("*") if p.is_file()}
    with pytest.raises(IntegrityError):
        listing_photo_create(listing=listing, upload=SimpleUploadedFile("p.jpg", buf.getvalue(), "image/jpeg"))
    assert {p for p in media_root.rglob("*") if p.is_file()} == before
