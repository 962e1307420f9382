"""Check the policy's communication channels and each level's default channels per audience. Private.

A channel here is what the console may send to and how fast: its kind (which adapter), the provider's rate limit,
and for a status page which component stands for which service. Where it is (the URL) and how to get in (the
token) live in the OS keyring, never in this file: a policy is shared and versioned in the database.
"""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from console.routing._reader import Node, show
from console.routing.definitions import ChannelDef
from console.routing.vocabulary import Audience
from models.enums import ChannelKind

_CHANNEL = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_RATE = re.compile(r"(\d{1,5})/(s|m)")
_KEYS = ("kind", "description", "rate", "components")
# Documented provider limits, used when a channel does not say: Slack allows about one message per second per
# incoming webhook; Statuspage's API one request per second per key; Teams about four per second.
_DEFAULT_PER_SECOND = {ChannelKind.SLACK: 1.0, ChannelKind.TEAMS: 4.0, ChannelKind.STATUSPAGE: 1.0,
                       ChannelKind.EMAIL: 5.0, ChannelKind.WEBHOOK: 10.0}


def parse_channels(top: Node) -> dict[str, ChannelDef]:
    """Return the [channels.<name>] tables by name, or fail naming the line."""
    if not top.has("channels"):
        return {}
    table = top.table("channels")
    channels = {}
    for name in table.data:
        if not _CHANNEL.fullmatch(name):
            table.fail(name, f"{show(name)} is not a channel name: lower-case letters, digits and - only")
        channels[name] = _channel(table.table(name), name)
    return channels


def _channel(node: Node, name: str) -> ChannelDef:
    node.allow(_KEYS)
    kind = node.choice("kind", ChannelKind)
    per_second = _DEFAULT_PER_SECOND[kind]
    if node.has("rate"):
        written = node.get("rate", None, (str,), 'a rate such as "1/s" or "30/m"')
        match = _RATE.fullmatch(written.strip())
        if match is None or int(match.group(1)) == 0:
            node.fail("rate", f'expected a rate such as "1/s" or "30/m", got {show(written)}')
        per_second = int(match.group(1)) / (1 if match.group(2) == "s" else 60)
    components: dict[str, str] = {}
    if node.has("components"):
        if kind is not ChannelKind.STATUSPAGE:
            node.fail("components", "only a statuspage channel has components")
        mapping = node.table("components")
        for service, component in mapping.data.items():
            if not isinstance(component, str) or not component.strip():
                mapping.fail(service, f"expected the status page's component id, got {show(component)}")
            components[service] = component.strip()
    return ChannelDef(name=name, kind=kind, description=node.text("description", default=""),
                      per_second=per_second, components=MappingProxyType(components))


def level_channels(node: Node, known: dict[str, Any]) -> MappingProxyType[Audience, tuple[str, ...]]:
    """Return a level's default channels per audience, each one defined under [channels]."""
    if not node.has("channels"):
        return MappingProxyType({})
    table = node.table("channels")
    result = {}
    for key in table.data:
        audience = table.member(key, Audience, key)
        names = table.texts(key)
        for index, name in enumerate(names):
            if name not in known:
                table.fail((key, index), f"{show(name)} is not a channel of this policy; define it under "
                                         f"[channels.{name}]")
        result[audience] = names
    return MappingProxyType(result)
