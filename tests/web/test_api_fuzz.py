"""Schemathesis against a live web process of the test stack, as a seller (token), staff (token) and anonymous:
every operation of the OpenAPI schema, every check, positive and negative inputs (issue #12).

What must hold: no 5xx and no authorization finding (schemathesis codes ST1xx server errors, ST4xx auth). Other
findings (an undocumented 4xx status, say) are printed so they stay visible, but they are schema polish, not bugs.
The web process is real (runserver in the web role, DEBUG off, the test database); a real valkey takes what
uploads publish; no workers are needed because no job has to finish. Derandomized, with a fixed example budget,
so CI sees the same cases every run (about a minute on two cores)."""
from __future__ import annotations

import collections
import io

import pytest
import schemathesis
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hyp_settings
from PIL import Image
from schemathesis.core.failures import FailureGroup, ServerError

from devtools.stack import start_web
from devtools.processes import free_port, start_valkey

MAX_EXAMPLES = 20
SERIOUS_PREFIXES = ("ST4",)  # authentication and authorization findings (server errors: ServerError)
_other_findings: collections.Counter = collections.Counter()


# Transactional: the rows the web process must see are committed, and flushed after each test. (Without a
# django_db mark pytest-django sets up no test database at all and the tests would run on var/db.sqlite3.)
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory, media_root, django_db_setup):
    """The web process on a free port, on the test database."""
    tmp = tmp_path_factory.mktemp("fuzz")
    valkey = start_valkey(free_port(), tmp / "valkey", tmp / "logs")
    env = {"DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}", "MEDIA_ROOT": str(media_root),
           "MARKETPLACE_VAR_DIR": str(tmp), "REDIS_URL": valkey.extra["url"], "DJANGO_SETTINGS_MODULE":
           "marketplace.settings", "THROTTLE_LOGIN": "100000/min", "THROTTLE_UPLOAD": "100000/min",
           "JOB_WAIT_MAX_SECONDS": "0.5",  # no worker ends a job here: a long poll would only hold the run up
           "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    web = start_web(free_port(), env, tmp / "logs")
    try:
        yield {"url": web.extra["url"], "web": web}
    finally:
        web.stop()
        valkey.stop()
        print(f"\nschemathesis findings that are not server errors or auth findings: {dict(_other_findings)}")


@pytest.fixture
def tokens(live_api, transactional_db) -> dict:
    """A seller with one listing and a staff member, committed for the web process; their API tokens."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from marketplace.accounts.roles import role_assign
    from marketplace.listings.models import Listing

    users = get_user_model().objects
    seller = users.create_user("fuzz-seller", password="fuzz-password-1")
    role_assign(seller, "seller")
    staff = users.create_user("fuzz-staff", password="fuzz-password-2", is_staff=True)
    Listing.objects.create(seller=seller, title="fuzzed", garment_type="top")
    return {"seller": Token.objects.create(user=seller).key, "staff": Token.objects.create(user=staff).key}


def _api_schema() -> dict:
    """The OpenAPI document the web process serves at /api/schema/, built here at collection time (schemathesis'
    fixture-based lazy loader does not work with pytest 9, and the generated tests must exist before the server)."""
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(_api_schema(), config=schemathesis.Config.from_dict({
    "seed": 12,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
}))
_hypothesis = hyp_settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                           suppress_health_check=list(HealthCheck))


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def _call_and_check(case, live_api, tokens, role: str | None) -> None:
    headers = {"Authorization": f"Token {tokens[role]}"} if role else {}
    response = case.call(base_url=live_api["url"], headers=headers, timeout=30)
    try:
        case.validate_response(response, headers=headers)
    except FailureGroup as group:
        serious = [f for f in group.exceptions if isinstance(f, ServerError) or f.code.startswith(SERIOUS_PREFIXES)]
        for f in group.exceptions:
            if f not in serious:
                _other_findings[f"{f.code} {f.kind_title}"] += 1
        if serious:
            tail = live_api["web"].log_tail(30) if any(isinstance(f, ServerError) for f in serious) else ""
            raise AssertionError(f"{role or 'anonymous'}: {case.operation.label}: "
                                 + "; ".join(f"{f.code} {f.title}: {f.message[:300]}" for f in serious)
                                 + f"\n{tail}") from None
    assert response.status_code < 500, (response.status_code, response.text[:500])


@schema.parametrize()
@_hypothesis
def test_fuzz_as_seller(case, live_api, tokens):
    _call_and_check(case, live_api, tokens, "seller")


@schema.parametrize()
@_hypothesis
def test_fuzz_as_staff(case, live_api, tokens):
    _call_and_check(case, live_api, tokens, "staff")


@schema.parametrize()
@_hypothesis
def test_fuzz_anonymous(case, live_api, tokens):
    _call_and_check(case, live_api, tokens, None)
