"""The impact policy: severity levels (who is paged and informed, templates, update cadences) and the rules.

`load_policy` reads resources/policy/impact.toml (or another file, or text) into frozen dataclasses and refuses
a broken file whole with the file, the line and the reason (console/routing/_parse.py checks every field;
the values themselves are in console/routing/definitions.py).
`policy_digest` names one exact policy text, so a stored decision can say which policy made it.
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from functools import lru_cache
from pathlib import Path

from console.errors import InvalidInput
from console.routing._parse import parse_policy
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
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(f"{path}: cannot read the impact policy: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise InvalidInput(f"{path}:1: not UTF-8 text (byte {error.start})") from None
    name = str(path) if path is not None else "<policy text>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+), column \d+\)", str(error))
        line = found.group(1) if found else str(text.count("\n") + 1)  # "at end of document"
        raise InvalidInput(f"{name}:{line}: not valid TOML: {error}") from None
    return parse_policy(name=name, text=text, raw=raw, digest=policy_digest(text=text))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """Return the shipped policy, read once per process."""
    return load_policy()
