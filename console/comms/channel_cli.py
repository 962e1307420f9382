"""`python main.py channel ...`: list the policy's channels and set, check or forget their endpoints.

An endpoint is asked for field by field (secrets without echo) or read as JSON from standard input for scripts,
checked by its adapter before it is stored, and stored only in a real OS keyring: the command line has no
session to keep it in, so without a keyring it refuses and says why. Nothing here prints a secret.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

from console.comms.endpoints import EndpointStore
from console.comms.wire import Endpoint
from console.errors import InvalidInput
from console.routing.definitions import ChannelDef, Policy
from models.enums import ChannelKind

# (field, prompt, secret) per kind: what an operator is asked for.
FIELDS: dict[ChannelKind, tuple[tuple[str, str, bool], ...]] = {
    ChannelKind.SLACK: (("url", "Slack incoming webhook URL", True),),
    ChannelKind.TEAMS: (("url", "Teams incoming webhook (or Workflows) URL", True),),
    ChannelKind.WEBHOOK: (("url", "Webhook URL", True), ("hmac_secret", "HMAC signing secret (empty: unsigned)", True)),
    ChannelKind.STATUSPAGE: (("url", "Status page API base, https://api.statuspage.io/v1/pages/<page id>", False),
                             ("token", "Status page API key", True)),
    ChannelKind.EMAIL: (("host", "SMTP host", False), ("port", "SMTP port (empty: the usual one)", False),
                        ("security", "starttls, ssl or none", False), ("username", "SMTP user (empty: none)", False),
                        ("password", "SMTP password", True), ("sender", "From address", False),
                        ("recipients", "To addresses, comma-separated", False)),
}


def describe(*, policy: Policy, store: EndpointStore) -> list[str]:
    """Return one line per channel of the policy: name, kind, rate and whether its endpoint is set here."""
    lines = []
    for channel in policy.channels.values():
        state = "endpoint set" if store.get(channel.name) is not None else "NO ENDPOINT on this machine"
        lines.append(f"{channel.name:20} {channel.kind:10} {channel.per_second:g}/s  {state}  {channel.description}")
    return lines


def ask_endpoint(*, channel: ChannelDef, ask: Callable[[str], str], ask_secret: Callable[[str], str]) -> Endpoint:
    """Ask for each field of a channel's endpoint; secrets are asked without echo."""
    values: dict[str, object] = {}
    for field, prompt, secret in FIELDS[channel.kind]:
        answer = (ask_secret if secret else ask)(f"{prompt}: ").strip()
        if not answer:
            continue
        if field == "port":
            if not answer.isdigit() or not 0 < int(answer) < 65536:
                raise InvalidInput(f"port {answer!r}: expected a number from 1 to 65535")
            values[field] = int(answer)
        elif field == "recipients":
            values[field] = [part.strip() for part in answer.split(",") if part.strip()]
        else:
            values[field] = answer
    return Endpoint.from_json(json.dumps(values))


def set_endpoint(*, channel: ChannelDef, endpoint: Endpoint, store: EndpointStore, out: TextIO) -> int:
    """Check an endpoint with its adapter and keep it in the OS keyring; return the exit status."""
    from console.comms.channels import adapter_for
    from console.credentials import keyring_status

    adapter_for(channel.kind).check(endpoint)
    status = keyring_status()
    if not status.available:
        raise InvalidInput(f"not stored: {status.reason.split(';')[0]}; endpoints are kept only in an OS keyring")
    if not store.put(channel.name, endpoint):
        raise InvalidInput(f"the keyring did not take the endpoint of {channel.name} (see the log)")
    print(f"{channel.name}: endpoint stored in the OS keyring ({status.backend})", file=out)
    return 0


def check_endpoint(*, channel: ChannelDef, store: EndpointStore, out: TextIO) -> int:
    """Say whether a channel's endpoint is set here and well-formed; return the exit status."""
    from console.comms.channels import adapter_for

    endpoint = store.get(channel.name)
    if endpoint is None:
        print(f"{channel.name}: no endpoint is set on this machine; set it with "
              f"`python main.py channel set {channel.name}`", file=out)
        return 1
    adapter_for(channel.kind).check(endpoint)
    print(f"{channel.name}: endpoint set and well-formed ({channel.kind})", file=out)
    return 0
