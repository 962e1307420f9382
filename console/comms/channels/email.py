"""E-mail over SMTP: one plain-text message to the configured recipients.

The Message-ID is built from the idempotency key, so every retry of a message carries the same one and a
receiving system can drop repeats. Security "ssl" is implicit TLS (port 465 by default), "starttls" upgrades a
plain connection (587) and fails when the server does not offer it, "none" is for a local relay (25). Replies
in the 4xx range and lost connections are worth a retry; 5xx replies are not.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from urllib.parse import quote

from console.comms.channels._net import LOOPBACK_HOSTS
from console.comms.channels.base import Endpoint, MailSecurity, Outcome, OutcomeKind, Outgoing, guarded, one_line
from console.errors import InvalidInput
from models.enums import ChannelKind

DEFAULT_PORT = {MailSecurity.SSL: 465, MailSecurity.STARTTLS: 587, MailSecurity.NONE: 25}
MESSAGE_ID_DOMAIN = "incident-console"
_ID_SAFE = "-_"  # besides letters and digits; anything else is %-escaped, so distinct keys stay distinct


class _NoStartTls(Exception):
    pass


def message_id(idempotency_key: str) -> str:
    """Return the Message-ID for a message's idempotency key: the same key gives the same id."""
    return f"<{quote(idempotency_key, safe=_ID_SAFE)}@{MESSAGE_ID_DOMAIN}>"


def build_message(outgoing: Outgoing, *, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """Return the e-mail for one message; raise ValueError when an address or header cannot be encoded."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = one_line(outgoing.subject, limit=None) or f"[{outgoing.severity}] {outgoing.incident_ref}"
    message["Date"] = format_datetime(outgoing.sent_at)
    message["Message-ID"] = message_id(outgoing.idempotency_key)
    message["X-ICC-Incident"] = outgoing.incident_ref
    message["X-ICC-Severity"] = outgoing.severity
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the console
    message.set_content(outgoing.body)
    return message


@cache
def _local_name() -> str:
    return socket.getfqdn()  # what smtplib would look up on every connection; it can be slow


def _said(code: int, text: bytes | str) -> str:
    return one_line(f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}")


def _server_said(exc: smtplib.SMTPResponseException) -> str:
    return _said(exc.smtp_code, exc.smtp_error)


def _by_code(code: int, detail: str) -> Outcome:
    return Outcome(OutcomeKind.FAILED if 500 <= code < 600 else OutcomeKind.RETRY, detail)


class EmailAdapter:
    kind = ChannelKind.EMAIL
    supports_idempotency = True

    def deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float, now: datetime) -> Outcome:
        """Hand the message to the mail server once and say what the server answered."""
        return guarded(self._deliver(outgoing, endpoint, timeout=timeout), endpoint=endpoint)

    def _deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float) -> Outcome:
        if not endpoint.recipients:
            return Outcome(OutcomeKind.FAILED, "no recipients configured")
        if not endpoint.sender or not endpoint.host:
            return Outcome(OutcomeKind.FAILED, "no sender address or mail server configured")
        try:
            security = MailSecurity(endpoint.security)
            message = build_message(outgoing, sender=endpoint.sender, recipients=endpoint.recipients)
        except ValueError:
            return Outcome(OutcomeKind.FAILED, "the message could not be built: check the sender, the recipients "
                                               "and the security setting")
        port = endpoint.port or DEFAULT_PORT[security]
        where = f"{endpoint.host}:{port}"
        try:
            refused = self._send(message, endpoint, security=security, port=port, timeout=timeout)
        except _NoStartTls:
            return Outcome(OutcomeKind.FAILED, "the mail server does not offer STARTTLS")
        except smtplib.SMTPRecipientsRefused as exc:
            said = [f"{address}: {_said(*reply)}" for address, reply in exc.recipients.items()]
            codes = [code for code, _ in exc.recipients.values()]
            kind = OutcomeKind.FAILED if all(500 <= c < 600 for c in codes) else OutcomeKind.RETRY
            return Outcome(kind, one_line(f"the mail server refused every recipient: {'; '.join(said)}"))
        except smtplib.SMTPAuthenticationError as exc:
            return _by_code(exc.smtp_code, f"the mail server refused the login: {_server_said(exc)}")
        except smtplib.SMTPSenderRefused as exc:
            return _by_code(exc.smtp_code, f"the mail server refused the sender: {_server_said(exc)}")
        except smtplib.SMTPDataError as exc:
            return _by_code(exc.smtp_code, f"the mail server refused the message: {_server_said(exc)}")
        except smtplib.SMTPResponseException as exc:  # greeting, HELO, STARTTLS
            return _by_code(exc.smtp_code, f"the mail server answered {_server_said(exc)}")
        except smtplib.SMTPNotSupportedError as exc:  # smtplib's own words, e.g. no AUTH extension
            return Outcome(OutcomeKind.FAILED, f"the mail server cannot do this: {one_line(str(exc))}")
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib reports a read that timed out this way
                return Outcome(OutcomeKind.RETRY, f"timed out after {timeout:g} s talking to {where}")
            return Outcome(OutcomeKind.RETRY, f"the mail server {where} closed the connection")
        except smtplib.SMTPException as exc:
            return Outcome(OutcomeKind.RETRY, f"the exchange with {where} failed ({type(exc).__name__})")
        except ssl.SSLCertVerificationError as exc:  # retrying will not fix the certificate
            return Outcome(OutcomeKind.FAILED, f"the certificate of {where} did not verify: "
                                               f"{one_line(exc.verify_message or 'unknown reason')}")
        except ssl.SSLError:
            return Outcome(OutcomeKind.RETRY, f"the TLS handshake with {where} failed")
        except TimeoutError:
            return Outcome(OutcomeKind.RETRY, f"timed out after {timeout:g} s talking to {where}")
        except ConnectionRefusedError:
            return Outcome(OutcomeKind.RETRY, f"could not connect to {where}: connection refused")
        except socket.gaierror:
            return Outcome(OutcomeKind.RETRY, f"could not resolve the mail server's name {endpoint.host}")
        except OSError as exc:
            return Outcome(OutcomeKind.RETRY, f"the connection to {where} failed ({type(exc).__name__})")
        except (ValueError, UnicodeError):  # e.g. a password smtplib cannot encode; the message could quote it
            return Outcome(OutcomeKind.FAILED, "the login or an address holds characters the mail server "
                                               "cannot take")
        total = len(endpoint.recipients)
        if refused:
            first, reply = next(iter(refused.items()))
            return Outcome(OutcomeKind.DELIVERED, one_line(f"delivered to {total - len(refused)} of {total} "
                                                           f"recipients; {first} refused: {_said(*reply)}"))
        return Outcome(OutcomeKind.DELIVERED, f"delivered to {total} recipient(s) via {where}")

    def _send(self, message: EmailMessage, endpoint: Endpoint, *, security: MailSecurity, port: int,
              timeout: float) -> dict[str, tuple[int, bytes]]:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if security is MailSecurity.SSL:
            smtp = smtplib.SMTP_SSL(endpoint.host, port, local_hostname=_local_name(), timeout=timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(endpoint.host, port, local_hostname=_local_name(), timeout=timeout)
        try:
            smtp.ehlo()
            if security is MailSecurity.STARTTLS:
                if not smtp.has_extn("starttls"):
                    raise _NoStartTls
                smtp.starttls(context=context)
                smtp.ehlo()
            if endpoint.username:
                smtp.login(endpoint.username, endpoint.password)
            return smtp.send_message(message, from_addr=endpoint.sender, to_addrs=list(endpoint.recipients))
        finally:
            # Not `with smtp`: its QUIT raises on an odd reply, which would turn a delivered message into an error.
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def check(self, endpoint: Endpoint) -> None:
        """Raise InvalidInput saying what the mail settings lack."""
        if not endpoint.host or any(ch.isspace() for ch in endpoint.host):
            raise InvalidInput("the mail server's host name is missing or has spaces in it")
        if endpoint.security not in set(MailSecurity):
            raise InvalidInput("the mail security must be one of starttls, ssl, none")
        if "@" not in endpoint.sender:
            raise InvalidInput("the sender address is missing or is not an address")
        if not endpoint.recipients:
            raise InvalidInput("no recipients configured")
        if any("@" not in r or any(ch.isspace() for ch in r) for r in endpoint.recipients):
            raise InvalidInput("every recipient must be an e-mail address")
        if endpoint.password and not endpoint.username:
            raise InvalidInput("a mail password needs a user name")
        if (endpoint.username and endpoint.security == MailSecurity.NONE
                and endpoint.host not in LOOPBACK_HOSTS):
            raise InvalidInput("a login without TLS is only allowed to a relay on this machine; "
                               "use starttls or ssl")
