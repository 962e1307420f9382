"""Leaders' signing keys: an Ed25519 key pair per leader, the private half sealed by their passphrase and kept
in the OS keyring, the public half in the database so anyone can verify a decision later.

Sealing: scrypt (n=2^15, r=8, p=1, ~0.1 s here) turns the passphrase into an AES-256-GCM key; the public key
is the associated data, so a sealed key cannot be passed off as another. A wrong passphrase fails the GCM tag
and is reported as exactly that. Nothing here logs, stores or repeats a passphrase or a private key.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from console.credentials import SessionSecrets
from console.errors import InvalidInput

MIN_PASSPHRASE = 10
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_FORMAT = "icc-ed25519-scrypt-aesgcm-1"


class WrongPassphrase(InvalidInput):
    """The passphrase does not open this signing key."""


@dataclass(frozen=True)
class SealedKey:
    public_key: str  # 64 hex digits
    sealed: str = ""  # JSON: what the keyring keeps

    def __repr__(self) -> str:  # the sealed blob is no secret without the passphrase, but keep logs short
        return f"SealedKey(public_key={self.public_key[:12]}…)"


def check_passphrase(passphrase: str) -> None:
    """Refuse a passphrase too short to protect a signing key."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"a signing passphrase needs at least {MIN_PASSPHRASE} characters "
                           f"(this one has {len(passphrase)})")


def create_key(*, passphrase: str) -> SealedKey:
    """Make a new key pair and seal its private half with the passphrase."""
    check_passphrase(passphrase)
    private = Ed25519PrivateKey.generate()
    public_hex = public_hex_of(private)
    salt, nonce = os.urandom(16), os.urandom(12)
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    sealed = AESGCM(_derive(passphrase, salt, **_SCRYPT)).encrypt(nonce, raw, public_hex.encode("ascii"))
    blob = {"format": _FORMAT, "public_key": public_hex, "salt": salt.hex(), "nonce": nonce.hex(),
            "sealed": sealed.hex(), **_SCRYPT}
    return SealedKey(public_key=public_hex, sealed=json.dumps(blob, sort_keys=True))


def unseal(*, sealed: str, passphrase: str) -> Ed25519PrivateKey:
    """Open a sealed key with the passphrase; a wrong one raises WrongPassphrase."""
    try:
        blob = json.loads(sealed)
        if blob.get("format") != _FORMAT:
            raise ValueError(blob.get("format"))
        key = _derive(passphrase, bytes.fromhex(blob["salt"]), n=blob["n"], r=blob["r"], p=blob["p"])
        raw = AESGCM(key).decrypt(bytes.fromhex(blob["nonce"]), bytes.fromhex(blob["sealed"]),
                                  blob["public_key"].encode("ascii"))
    except InvalidTag:
        raise WrongPassphrase("that passphrase does not open your signing key") from None
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("the signing key kept in the keyring is damaged; create a new one") from None
    private = Ed25519PrivateKey.from_private_bytes(raw)
    if public_hex_of(private) != blob["public_key"]:
        raise InvalidInput("the signing key kept in the keyring is damaged; create a new one")
    return private


def public_hex_of(private: Ed25519PrivateKey) -> str:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign(*, private_key: Ed25519PrivateKey, content: str) -> str:
    """Return the hex Ed25519 signature of the content's UTF-8 bytes."""
    return private_key.sign(content.encode("utf-8")).hex()


def verify_signature(*, public_key: str, content: str, signature: str) -> bool:
    """Tell whether the signature is the public key's over exactly this content."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(bytes.fromhex(signature), content.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False
    return True


def _derive(passphrase: str, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


class SigningKeyring:
    """Where each leader's sealed key is kept: the OS keyring, or this session only when there is none."""

    def __init__(self, secrets: SessionSecrets | None = None) -> None:
        self._secrets = secrets or SessionSecrets(what="signing key")

    @staticmethod
    def key_name(handle: str) -> str:
        return f"signing-key:{handle}"

    def put(self, *, handle: str, key: SealedKey) -> bool:
        """Keep a sealed key; return whether the OS keyring holds it (False: this session only)."""
        return self._secrets.put(self.key_name(handle), key.sealed, remember=True)

    def sealed_for(self, *, handle: str) -> str | None:
        return self._secrets.get(self.key_name(handle))

    def public_key_of(self, *, handle: str) -> str | None:
        """Return the public key of the sealed key kept for a leader, without the passphrase."""
        sealed = self.sealed_for(handle=handle)
        if sealed is None:
            return None
        try:
            return str(json.loads(sealed)["public_key"])
        except (ValueError, KeyError, TypeError):
            return None

    def unlock(self, *, handle: str, passphrase: str) -> Ed25519PrivateKey:
        """Open a leader's key with their passphrase, saying clearly when there is none on this machine."""
        sealed = self.sealed_for(handle=handle)
        if sealed is None:
            raise InvalidInput(f"no signing key for {handle} on this machine: create one first")
        return unseal(sealed=sealed, passphrase=passphrase)

    def forget(self, *, handle: str) -> None:
        self._secrets.forget(self.key_name(handle))
