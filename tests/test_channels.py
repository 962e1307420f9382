"""The channel adapters against real local servers: each provider's documented payload, every way a delivery can
go wrong mapped to RETRY or FAILED in one attempt, and no secret in any detail, log line, message or repr."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

import pytest

from console.comms.channels import ADAPTERS, adapter_for
from console.comms.channels.base import Endpoint, HttpReply, Outcome, OutcomeKind, Outgoing, classify_response
from console.comms.channels.slack import payload as slack_payload, split_sections
from console.comms.channels.webhook import verify_signature
from console.errors import InvalidInput
from models.enums import ChannelKind
from tests.comms_servers import HttpStub, SmtpStub, StatuspageFake
from tests.conftest import T0

DELIVERED, RETRY, FAILED = OutcomeKind.DELIVERED, OutcomeKind.RETRY, OutcomeKind.FAILED
SLACK, TEAMS, WEBHOOK, STATUSPAGE, EMAIL = (ChannelKind.SLACK, ChannelKind.TEAMS, ChannelKind.WEBHOOK,
                                            ChannelKind.STATUSPAGE, ChannelKind.EMAIL)
HTTP_KINDS = [SLACK, TEAMS, WEBHOOK, STATUSPAGE]
# Every secret holds the word SECRET, so one search proves none leaked.
PATHS = {SLACK: "/services/T0SECRET1/B0SECRET2/xoxSECRET3", TEAMS: "/webhookb2/SECRET-a/IncomingWebhook/SECRET-b",
         WEBHOOK: "/hooks/SECRET-path?token=SECRET-query", STATUSPAGE: "/v1/pages/pg1test"}
API_KEY = "spkeySECRET0123456789"
HMAC_SECRET = "hmacSECRETabcdef"
SUBJECT = "Checkout is failing for some customers"
BODY = "We are investigating elevated errors.\nNext update in 30 minutes."


def outgoing(**changes: object) -> Outgoing:
    message = Outgoing(idempotency_key="msg-41:ch-3", incident_ref="INC-12", incident_title="Checkout errors",
                       severity="SEV1", incident_status="mitigating", audience="customers", subject=SUBJECT,
                       body=BODY, sent_at=T0)
    return dataclasses.replace(message, **changes)


def endpoint_for(kind: ChannelKind, base: str) -> Endpoint:
    return Endpoint(url=base + PATHS[kind], token=API_KEY if kind is STATUSPAGE else "",
                    hmac_secret=HMAC_SECRET if kind is WEBHOOK else "")


def attempt(kind: ChannelKind, base: str, *, timeout: float = 2.0, **changes: object) -> Outcome:
    if kind is STATUSPAGE:  # an update of a known incident: one request, like the webhooks
        changes.setdefault("provider_ref", "inc000000001")
    return ADAPTERS[kind].deliver(outgoing(**changes), endpoint_for(kind, base), timeout=timeout, now=T0)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    with HttpStub() as server:
        yield server


Script = Callable[[HttpStub], None]
FAILURES: dict[str, tuple[Script, OutcomeKind, str, float | None]] = {
    "429 in seconds": (lambda s: s.reply_429(retry_after="7"), RETRY, "HTTP 429 Too Many Requests", 7.0),
    "429 as a date": (lambda s: s.reply_429(retry_after=format_datetime(T0 + timedelta(seconds=30), usegmt=True)),
                      RETRY, "retry after 30 s", 30.0),
    "429 for a day": (lambda s: s.reply_429(retry_after="86400"), RETRY, "retry after 3600 s", 3600.0),
    "503": (lambda s: s.reply(status=503, headers={"Retry-After": "12"}), RETRY, "HTTP 503 Service Unavailable", 12.0),
    "500": (lambda s: s.reply_500(), RETRY, "HTTP 500 Internal Server Error", None),
    "400": (lambda s: s.reply(status=400, body=b"invalid_payload"), FAILED, "said invalid_payload", None),
    "410": (lambda s: s.reply(status=410, body=b"channel_is_archived"), FAILED, "channel_is_archived", None),
    "redirect": (lambda s: s.reply(status=302, headers={"Location": "https://elsewhere.test/"}), FAILED,
                 "the endpoint redirected; check its URL", None),
    "dropped": (lambda s: s.drop(), RETRY, "dropped before a reply", None),
}


@pytest.mark.parametrize("case", FAILURES)
@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_each_failed_reply_is_a_retry_or_a_failure_after_one_attempt(kind: ChannelKind, case: str,
                                                                       stub: HttpStub) -> None:
    script, expected, words, retry_after = FAILURES[case]
    script(stub)
    outcome = attempt(kind, stub.url)
    assert (outcome.kind, outcome.retry_after) == (expected, retry_after)
    assert words in outcome.detail
    assert len(stub.requests) == 1


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_a_reply_slower_than_the_timeout_or_nothing_listening_is_retried(kind: ChannelKind, stub: HttpStub) -> None:
    stub.slow(30)
    started = time.monotonic()
    slow, refused = attempt(kind, stub.url, timeout=0.3), attempt(kind, closed_port_url())
    assert slow.kind is RETRY and "timed out after 0.3 s" in slow.detail and time.monotonic() - started < 3
    assert refused.kind is RETRY and "connection refused" in refused.detail


def test_classify_response_beyond_the_common_cases() -> None:
    def classify(status: int, body: bytes = b"", **headers: str) -> Outcome:
        return classify_response(HttpReply(status, headers, body), now=T0)

    kinds = [classify(status).kind for status in (200, 202, 204, 408, 425, 404, 422)]
    assert kinds == [DELIVERED] * 3 + [RETRY] * 2 + [FAILED] * 2
    assert classify(420, **{"Retry-After": "60"}).retry_after == 60.0  # Statuspage's old rate-limit status
    assert classify(429, **{"Retry-After": "soon"}).retry_after is None
    assert classify(422, b'{"error": ["Name is blank"]}').detail == "HTTP 422 Unprocessable Entity: Name is blank"
    assert classify(400, b'{"error": {"code": "TriggerInputSchemaMismatch"}}').detail.endswith("SchemaMismatch")
    assert classify(502, b"<html>" + b"x" * 500, **{"Content-Type": "text/html"}).detail == "HTTP 502 Bad Gateway"
    assert len(classify(400, b"word " * 200).detail) < 240


def test_slack_posts_block_kit_with_a_fallback_line(stub: HttpStub) -> None:
    body = "Errors <5% & falling > before.\n" + "x" * 7000
    assert attempt(SLACK, stub.url, body=body).kind is DELIVERED
    request = stub.requests[0]
    assert (request.method, request.path, request.headers["Content-Type"]) == ("POST", PATHS[SLACK], "application/json")
    assert request.headers["User-Agent"] == "incident-console/0.1"
    sent = request.json()
    assert sent["text"] == f"[SEV1] INC-12 {SUBJECT}"
    header, *sections, context = sent["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": SUBJECT, "emoji": True}}
    assert len(sections) == 3 and all(s["type"] == "section" and s["text"]["type"] == "mrkdwn" for s in sections)
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert sections[0]["text"]["text"].startswith("Errors &lt;5% &amp; falling &gt; before.\nxxx")
    assert context["type"] == "context"
    assert all(word in context["elements"][0]["text"] for word in ("INC-12", "SEV1", "customers"))


def test_slack_cuts_a_long_subject_and_never_splits_an_entity() -> None:
    sent = slack_payload(outgoing(subject="s" * 200, body="&" * 4000))
    assert len(sent["blocks"][0]["text"]["text"]) == 150
    pieces = split_sections("&amp;" * 1000)
    assert len(pieces) == 2 and all(re.fullmatch(r"(&amp;)+", piece) for piece in pieces)


def test_teams_posts_an_adaptive_card(stub: HttpStub) -> None:
    assert attempt(TEAMS, stub.url).kind is DELIVERED
    sent = stub.requests[0].json()
    [attachment] = sent["attachments"]
    assert sent["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, body, facts = card["body"]
    assert title == {"type": "TextBlock", "text": SUBJECT, "weight": "Bolder", "size": "Medium", "wrap": True}
    assert body == {"type": "TextBlock", "text": BODY, "wrap": True}
    assert facts["type"] == "FactSet"
    assert [(f["title"], f["value"]) for f in facts["facts"]] == [
        ("Incident", "INC-12 Checkout errors"), ("Severity", "SEV1"), ("Status", "mitigating"),
        ("Audience", "customers")]


LEGACY = b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error %d with ContextId x"


@pytest.mark.parametrize("status, text, expected", [
    (202, b"", DELIVERED), (200, b"1", DELIVERED),  # Workflows' success, and the legacy connector's
    (200, LEGACY % 429, RETRY), (200, LEGACY % 502, RETRY), (200, LEGACY % 413, FAILED), (200, LEGACY % 400, FAILED),
])
def test_teams_reads_the_text_of_a_200(status: int, text: bytes, expected: OutcomeKind, stub: HttpStub) -> None:
    stub.reply(status=status, body=text)
    outcome = attempt(TEAMS, stub.url)
    assert outcome.kind is expected
    if expected is not DELIVERED:
        assert "returned HTTP error" in outcome.detail and "ContextId" not in outcome.detail


def test_teams_cuts_a_long_body_under_its_28_kb_limit(stub: HttpStub) -> None:
    assert attempt(TEAMS, stub.url, body="é" * 40_000).kind is DELIVERED
    request = stub.requests[0]
    assert len(request.body) < 28 * 1024
    assert "cut short" in request.json()["attachments"][0]["content"]["body"][1]["text"]


def test_webhook_sends_our_format_signed_over_the_exact_bytes(stub: HttpStub) -> None:
    assert attempt(WEBHOOK, stub.url).kind is DELIVERED
    request = stub.requests[0]
    assert (request.target, request.headers["Content-Type"]) == (PATHS[WEBHOOK], "application/json")
    assert request.headers["Idempotency-Key"] == "msg-41:ch-3"
    assert request.json() == {
        "idempotency_key": "msg-41:ch-3", "audience": "customers", "subject": SUBJECT, "body": BODY,
        "incident": {"ref": "INC-12", "title": "Checkout errors", "severity": "SEV1", "status": "mitigating"},
        "sent_at": "2026-11-27T10:00:00Z"}
    timestamp, signature = request.headers["X-ICC-Timestamp"], request.headers["X-ICC-Signature"]
    assert timestamp == str(int(T0.timestamp())) and signature.startswith("sha256=")
    signed = {"secret": HMAC_SECRET, "timestamp": timestamp, "body": request.body, "signature": signature}
    assert verify_signature(**signed) and verify_signature(**signed, now=T0 + timedelta(seconds=60))
    assert not verify_signature(**{**signed, "body": request.body.replace(b"mitigating", b"resolved!!")})
    assert not verify_signature(**{**signed, "secret": "another secret"})
    assert not verify_signature(**{**signed, "timestamp": str(int(T0.timestamp()) + 1)})
    assert not verify_signature(**signed, now=T0 + timedelta(minutes=10))  # a replay, long after


def test_webhook_without_a_secret_is_unsigned_and_keeps_its_key_on_a_retry(stub: HttpStub) -> None:
    endpoint = Endpoint(url=stub.url + "/hook")
    for _ in range(2):
        ADAPTERS[WEBHOOK].deliver(outgoing(), endpoint, timeout=2, now=T0)
    first, again = stub.requests
    assert "X-ICC-Signature" not in first.headers and "X-ICC-Timestamp" not in first.headers
    assert first.headers["Idempotency-Key"] == again.headers["Idempotency-Key"] == "msg-41:ch-3"


@pytest.fixture
def page(stub: HttpStub) -> StatuspageFake:
    return StatuspageFake(stub, api_key=API_KEY)


def to_page(page: StatuspageFake, message: Outgoing, *, token: str = API_KEY) -> Outcome:
    return ADAPTERS[STATUSPAGE].deliver(message, Endpoint(url=page.url, token=token), timeout=2, now=T0)


def test_statuspage_creates_an_incident_then_updates_the_same_one(stub: HttpStub, page: StatuspageFake) -> None:
    created = to_page(page, outgoing(incident_status="triggered", components={"cmp1": "major_outage"}))
    assert created.kind is DELIVERED and (ref := created.provider_ref) in page.incidents
    updated = to_page(page, outgoing(incident_status="resolved", body="Fixed.", provider_ref=ref,
                                     components={"cmp1": "operational"}))
    assert (updated.kind, updated.provider_ref) == (DELIVERED, ref)
    prefix = f"/v1/pages/{page.page_id}/incidents"
    assert [(r.method, r.path) for r in stub.requests] == [
        ("GET", f"{prefix}/unresolved"), ("POST", prefix), ("PATCH", f"{prefix}/{ref}")]
    create = stub.requests[1]
    assert (create.headers["Authorization"], create.headers["Content-Type"]) == (f"OAuth {API_KEY}", "application/json")
    assert create.json() == {"incident": {
        "name": SUBJECT, "status": "investigating", "body": BODY, "metadata": {"icc": {"incident": "INC-12"}},
        "components": {"cmp1": "major_outage"}, "component_ids": ["cmp1"]}}
    assert len(page.incidents) == 1 and (incident := page.incidents[ref])["status"] == "resolved"
    assert incident["components"] == [{"id": "cmp1", "name": "cmp1", "status": "operational"}]
    assert [u["body"] for u in incident["incident_updates"]] == ["Fixed.", BODY]
    assert stub.errors == []


def test_statuspage_updates_the_incident_a_lost_reply_created(stub: HttpStub, page: StatuspageFake) -> None:
    page.add_incident(name="Another", metadata={"icc": {"incident": "INC-99"}})
    ours = page.add_incident(name="Checkout", metadata={"icc": {"incident": "INC-12"}})
    outcome = to_page(page, outgoing())  # provider_ref None: the create's reply never arrived
    assert (outcome.kind, outcome.provider_ref) == (DELIVERED, ours)
    assert len(page.incidents) == 2 and page.incidents[ours]["status"] == "identified"
    assert (stub.requests[-1].method, stub.requests[-1].path.rsplit("/", 1)[1]) == ("PATCH", ours)


def test_statuspage_failures_of_its_own(stub: HttpStub, page: StatuspageFake) -> None:
    gone = to_page(page, outgoing(provider_ref="inc-gone"))
    assert (gone.kind, gone.detail) == (FAILED, "the status page no longer has incident inc-gone")
    refused = to_page(page, outgoing(), token="spkey-wrong")
    assert refused.kind is FAILED and "HTTP 401 Unauthorized; Statuspage said Could not authenticate" in refused.detail
    asked = len(stub.requests)
    unknown = to_page(page, outgoing(components={"cmp1": "on_fire"}))
    assert unknown.kind is FAILED and "on_fire" in unknown.detail and len(stub.requests) == asked


@pytest.fixture
def smtp() -> Iterator[SmtpStub]:
    with SmtpStub() as server:
        yield server


def mail_to(server: SmtpStub | None, **changes: object) -> Endpoint:
    port = server.port if server else urlsplit(closed_port_url()).port
    endpoint = Endpoint(host="127.0.0.1", port=port or 0, security="none", sender="incidents@example.com",
                        recipients=("oncall@example.com", "status@example.com"))
    return dataclasses.replace(endpoint, **changes)


def mail(endpoint: Endpoint, message: Outgoing | None = None, *, timeout: float = 2.0) -> Outcome:
    return ADAPTERS[EMAIL].deliver(message or outgoing(), endpoint, timeout=timeout, now=T0)


def test_email_is_delivered_with_the_same_message_id_on_a_retry(smtp: SmtpStub) -> None:
    assert [mail(mail_to(smtp)).kind for _ in range(2)] == [DELIVERED, DELIVERED]
    envelopes = smtp.wait_for_messages(2)
    assert (envelopes[0].mail_from, envelopes[0].rcpt_tos) == (
        "incidents@example.com", ("oncall@example.com", "status@example.com"))
    sent, resent = (message_from_bytes(e.content, policy=policy.default) for e in envelopes)
    assert sent["Message-ID"] == resent["Message-ID"] == "<msg-41%3Ach-3@incident-console>"
    assert (sent["From"], sent["To"], sent["Subject"]) == (
        "incidents@example.com", "oncall@example.com, status@example.com", SUBJECT)
    assert sent["X-ICC-Incident"] == "INC-12" and parsedate_to_datetime(sent["Date"]) == T0
    assert sent.get_content_type() == "text/plain" and sent.get_content().replace("\r\n", "\n") == BODY + "\n"


@pytest.mark.parametrize("command, reply, expected, words", [
    ("DATA", "451 4.3.0 try later", RETRY, "451 4.3.0 try later"),
    ("MAIL", "452 4.3.1 out of storage", RETRY, "refused the sender: 452"),
    ("RCPT", "550 5.1.1 no such user", DELIVERED, "delivered to 1 of 2 recipients"),
])
def test_email_reads_the_servers_replies(smtp: SmtpStub, command: str, reply: str, expected: OutcomeKind,
                                         words: str) -> None:
    smtp.refuse_next(command, reply)
    outcome = mail(mail_to(smtp))
    assert outcome.kind is expected and words in outcome.detail


def test_email_fails_on_a_refused_recipient_none_configured_or_no_starttls(smtp: SmtpStub) -> None:
    smtp.refuse_next("RCPT", "550 5.1.1 no such user")
    refused = mail(mail_to(smtp, recipients=("nobody@example.com",)))
    assert refused.kind is FAILED and "550 5.1.1 no such user" in refused.detail
    assert mail(mail_to(smtp, recipients=())) == Outcome(FAILED, "no recipients configured")
    assert mail(mail_to(smtp, security="starttls")) == Outcome(FAILED, "the mail server does not offer STARTTLS")
    assert smtp.envelopes == []


def test_email_retries_when_no_server_answers() -> None:
    refused = mail(mail_to(None))
    assert refused.kind is RETRY and "connection refused" in refused.detail
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts the connection, never greets
        started = time.monotonic()
        mute = mail(mail_to(None, port=silent.getsockname()[1]), timeout=0.3)
    assert mute.kind is RETRY and "timed out after 0.3 s" in mute.detail and time.monotonic() - started < 3


def test_email_logs_in_and_never_shows_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpStub(auth={"ops": "pwSECRETright"}) as server:
        wrong = mail(mail_to(server, username="ops", password="pwSECRETwrong"))
        right = mail(mail_to(server, username="ops", password="pwSECRETright"))
    assert wrong.kind is FAILED and wrong.detail.startswith("the mail server refused the login: 535")
    assert right.kind is DELIVERED
    assert "SECRET" not in wrong.detail + right.detail + caplog.text


def test_no_secret_reaches_a_detail_a_log_line_or_a_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    details: list[str] = []
    for kind in HTTP_KINDS:
        own = endpoint_for(kind, "")
        echo = " ".join(filter(None, (own.url, own.token, own.hmac_secret))).encode()  # a provider quoting us
        scripts: list[Script] = [lambda s: s.drop(), lambda s: s.reply_429(), lambda s: s.slow(5),
                                 lambda s: s.reply(status=400, body=echo), lambda s: s.reply(status=500, body=echo),
                                 lambda s: s.reply(status=301, headers={"Location": "/SECRET"})]
        for script in scripts:
            with HttpStub() as server:
                script(server)
                details.append(attempt(kind, server.url, timeout=0.1).detail)
        details.append(attempt(kind, closed_port_url()).detail)
        bad_url = Endpoint(url="hxxp://hooks.example.test/SECRET", token=API_KEY)
        details.append(ADAPTERS[kind].deliver(outgoing(), bad_url, timeout=1, now=T0).detail)
        for url in ("http://hooks.example.com/services/SECRET", "https://x.test/SECRET two", "SECRET"):
            with pytest.raises(InvalidInput) as refused:
                ADAPTERS[kind].check(Endpoint(url=url))
            details.append(str(refused.value))
    secret_endpoint = Endpoint(url="https://x/SECRET", token=API_KEY, hmac_secret=HMAC_SECRET, password="pwSECRET")
    details.append(repr(secret_endpoint))
    assert all("SECRET" not in detail for detail in details), [d for d in details if "SECRET" in d]
    assert "SECRET" not in caplog.text


def test_endpoint_json_round_trip_and_its_complaints() -> None:
    endpoint = Endpoint(url="https://hooks.slack.com/services/T/B/X", token="t", hmac_secret="h", host="smtp.test",
                        port=587, username="u", password="p", security="ssl", sender="a@b.test",
                        recipients=("c@d.test", "e@f.test"))
    assert Endpoint.from_json(endpoint.to_json()) == endpoint
    assert Endpoint.from_json("{}") == Endpoint()
    for text, complaint in [('{"token": "SECRET-half', "not valid JSON"), ("[]", "must be a JSON object"),
                            ('{"token": 5}', "'token' must be text"), ('{"port": "25"}', "'port' must be"),
                            ('{"port": true}', "'port' must be"), ('{"security": "tls"}', "one of starttls"),
                            ('{"recipients": "a@b"}', "list of addresses"), ('{"SECRETS": 1}', "unknown fields")]:
        with pytest.raises(InvalidInput, match=complaint) as refused:
            Endpoint.from_json(text)
        assert "SECRET-half" not in str(refused.value)


@pytest.mark.parametrize("kind, endpoint, complaint", [
    (SLACK, Endpoint(url="https://hooks.slack.com/services/T1/B2/x3"), None),
    (SLACK, Endpoint(url="http://127.0.0.1:9/services/T1/B2/x3"), None),  # the tests' local servers
    (SLACK, Endpoint(url="https://example.com/services/T1/B2/x3"), "must start with https://hooks.slack.com/"),
    (SLACK, Endpoint(url="http://hooks.slack.com/services/T1/B2/x3"), "must start with https://"),
    (SLACK, Endpoint(url=""), "missing"),
    (TEAMS, Endpoint(url="https://prod-01.westus.logic.azure.com:443/workflows/a1/triggers/manual"), None),
    (WEBHOOK, Endpoint(url="http://10.0.0.5/hook"), "must start with https://"),
    (STATUSPAGE, Endpoint(url="https://api.statuspage.io/v1/pages/abc123", token="k"), None),
    (STATUSPAGE, Endpoint(url="https://api.statuspage.io/v1/pages/abc123"), "API key is missing"),
    (STATUSPAGE, Endpoint(url="https://api.statuspage.io/v1/incidents", token="k"), "must look like"),
    (EMAIL, Endpoint(host="smtp.test", sender="a@b.test", recipients=("c@d.test",)), None),
    (EMAIL, Endpoint(host="smtp.test", sender="a@b.test"), "no recipients"),
    (EMAIL, Endpoint(host="smtp.test", sender="a@b.test", recipients=("c@d.test",), password="p"), "user name"),
    (EMAIL, Endpoint(host="smtp.test", security="none", username="u", password="p", sender="a@b.test",
                     recipients=("c@d.test",)), "only allowed to a relay on this machine"),
])
def test_check_says_what_is_wrong(kind: ChannelKind, endpoint: Endpoint, complaint: str | None) -> None:
    with pytest.raises(InvalidInput, match=complaint) if complaint else contextlib.nullcontext():
        adapter_for(kind).check(endpoint)


def test_every_channel_kind_has_its_adapter() -> None:
    assert set(ADAPTERS) == set(ChannelKind)
    assert all(adapter_for(kind.value).kind is kind for kind in ChannelKind)
    assert {k for k, a in ADAPTERS.items() if a.supports_idempotency} == {WEBHOOK, STATUSPAGE, EMAIL}
    with pytest.raises(InvalidInput, match="no channel kind"):
        adapter_for("pigeon")
