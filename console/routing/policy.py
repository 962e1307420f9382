"""The impact policy: severity levels (who is paged and informed, templates, update cadences) and the rules.

`load_policy` reads resources/policy/impact.toml (or another file, or text) into frozen dataclasses and refuses
a broken file whole with the file, the line and the reason (console/routing/_parse.py checks every field;
the values themselves are in console/routing/definitions.py).
`policy_digest` names one exact policy text, so a stored decision can say which policy made it.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from console.routing._parse import parse_policy
from console.routing._reader import read_toml
from console.routing.definitions import Policy, Rule, SeverityLevel

__all__ = ["DEFAULT_PATH", "Policy", "Rule", "SeverityLevel", "default_policy", "load_policy", "policy_digest"]

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "resources" / "policy" / "impact.toml"


def policy_digest(*, text: str) -> str:
    """Return the sha256 hex digest that names this policy text, whatever its line endings."""
    # A checkout with CRLF line endings is the same policy; its digest must not change.
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def load_policy(*, path: Path | None = None, text: str | None = None) -> Policy:
    """Read and check a policy file (or text); raise InvalidInput with file, line and reason on any fault."""
    if text is None:
        path = path or DEFAULT_PATH
    name, text, raw = read_toml(path=path, text=text, what="impact policy", unnamed="<policy text>")
    return parse_policy(name=name, text=text, raw=raw, digest=policy_digest(text=text))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """Return the shipped policy, read once per process."""
    return load_policy()
