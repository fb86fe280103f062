"""The server's VAPID key pair (RFC 8292), which signs every Web Push message.

VAPID_PRIVATE_KEY from the environment when set (production: the same key on every process), else
one generated once into the instance folder (mode 0600) on first use. Its public half is the
"application server key" browsers subscribe with: a new key means every device subscribes again.
"""

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from flask import current_app
from py_vapid import Vapid

from detail.config import vapid_key_from_text

KEY_FILE = "vapid_private_key.pem"


def vapid_key() -> Vapid:
    """The app's VAPID key: VAPID_PRIVATE_KEY when set, else the instance folder's (made on first use)."""
    cached = current_app.extensions.get("oscar_mike_vapid")
    if cached is None:
        configured = current_app.config.get("VAPID_PRIVATE_KEY")
        cached = (
            vapid_key_from_text(configured) if configured else _instance_key(Path(current_app.instance_path) / KEY_FILE)
        )
        current_app.extensions["oscar_mike_vapid"] = cached
    return cached


def application_server_key() -> str:
    """The public key browsers subscribe with: the uncompressed P-256 point, base64url without padding."""
    point = vapid_key().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(point).decode().rstrip("=")


def _instance_key(path: Path) -> Vapid:
    if not path.exists():
        fresh = Vapid()
        fresh.generate_keys()
        # Written whole under another name, then linked into place: a second process starting at
        # the same moment either wins the link or reads the winner's key, never half a file.
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(fresh.private_pem())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return Vapid.from_pem(path.read_bytes())
