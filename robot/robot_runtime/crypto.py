"""Gopherbot's encryption formats: AES-256-GCM blobs, inline `{{ decrypt }}` values, base64 files, the runtime key."""

from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from robot_runtime.errors import RobotError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
BASE64_FILE_HEADER = b"#GOPHERBOT-BASE64-DATA\n"
BASE64_FILE_COLUMNS = 77
BINARY_KEY_FILE = "binary-encrypted-key"
PRODUCTION = "production"

log = logging.getLogger(__name__)


class DecryptionError(RobotError):
    """The data is not an encryption made with this key (wrong key, truncated or altered data)."""


def encrypt(key: bytes, plaintext: bytes) -> bytes:
    """AES-256-GCM with a random 12-byte nonce; returns nonce || ciphertext || tag, as Gopherbot lays it out."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _cipher(key).encrypt(nonce, plaintext, None)


def decrypt(key: bytes, blob: bytes) -> bytes:
    """Open a nonce || ciphertext || tag blob; raises DecryptionError for a wrong key or damaged data."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("encrypted data is too short to be AES-GCM output (truncated?)")
    try:
        return _cipher(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], None)
    except InvalidTag:
        raise DecryptionError("encrypted data does not decrypt with this key (wrong key or altered data)") from None


def encrypt_value(key: bytes, text: str) -> str:
    """The base64 string that goes inside `{{ decrypt "..." }}` in a robot's YAML configuration."""
    return base64.b64encode(encrypt(key, text.encode())).decode("ascii")


def decrypt_value(key: bytes, b64: str) -> str:
    """Decrypt an inline `{{ decrypt "..." }}` value back to its text."""
    plaintext = decrypt(key, _b64decode(b64, what="encrypted value"))
    try:
        return plaintext.decode()
    except UnicodeDecodeError:
        raise DecryptionError("decrypted value is not UTF-8 text") from None


def encode_file(key: bytes, data: bytes) -> bytes:
    """An encrypted file: the #GOPHERBOT-BASE64-DATA line, then base64 of the encryption wrapped at 77 columns."""
    return wrap_base64_file(encrypt(key, data))


def decode_file(key: bytes, data: bytes) -> bytes:
    """Decrypt an encrypted file made by `encode_file` or by Gopherbot."""
    return decrypt(key, unwrap_base64_file(data))


def wrap_base64_file(payload: bytes) -> bytes:
    """Header + base64 in lines of 77 characters + a final newline, byte for byte as Gopherbot writes it.

    Gopherbot's line wrapper breaks a full line before the next write, and the final newline is such a write: a body
    whose last line is exactly 77 characters long therefore ends with an empty line.
    """
    encoded = base64.b64encode(payload)
    lines = [encoded[i : i + BASE64_FILE_COLUMNS] for i in range(0, len(encoded), BASE64_FILE_COLUMNS)]
    full_last_line = b"\n" if lines and len(lines[-1]) == BASE64_FILE_COLUMNS else b""
    return BASE64_FILE_HEADER + b"\n".join(lines) + full_last_line + b"\n"


def unwrap_base64_file(data: bytes) -> bytes:
    """The payload of a #GOPHERBOT-BASE64-DATA file; raises DecryptionError when the header or base64 is bad."""
    if not data.startswith(BASE64_FILE_HEADER.rstrip(b"\n")):
        raise DecryptionError("file does not start with the #GOPHERBOT-BASE64-DATA header line")
    body = data[len(BASE64_FILE_HEADER) - 1 :]
    return _b64decode(body, what="base64 file body")


def runtime_key(custom_dir: Path, encryption_key: str, environment: str) -> bytes:
    """Unlock the robot's 32-byte runtime key: GOPHER_ENCRYPTION_KEY opens custom/binary-encrypted-key[.<env>]."""
    startup_key = startup_key_bytes(encryption_key)
    key_file = binary_key_path(custom_dir, environment)
    label = f"custom/{key_file.name}"
    try:
        encoded = key_file.read_bytes()
    except FileNotFoundError:
        raise RobotError(f"{label} is missing: the robot's configuration has no encrypted runtime key") from None
    except OSError as error:
        raise RobotError(f"{label} cannot be read ({error.strerror})") from None
    blob = _b64decode(encoded, what=label)
    try:
        key = decrypt(startup_key, blob)
    except DecryptionError:
        raise RobotError(f"GOPHER_ENCRYPTION_KEY does not match {label}") from None
    if len(key) != KEY_BYTES:
        raise RobotError(f"{label} does not hold a {KEY_BYTES}-byte runtime key")
    return key


def binary_key_path(custom_dir: Path, environment: str) -> Path:
    """custom/binary-encrypted-key, or .<environment> outside production (falling back, as Gopherbot does)."""
    default = custom_dir / BINARY_KEY_FILE
    if environment == PRODUCTION:
        return default
    specific = custom_dir / f"{BINARY_KEY_FILE}.{environment}"
    if specific.exists() or not default.exists():
        return specific
    log.warning("custom/%s is missing; using custom/%s for environment %s", specific.name, default.name, environment)
    return default


def startup_key_bytes(encryption_key: str) -> bytes:
    """The AES key Gopherbot derives from GOPHER_ENCRYPTION_KEY: its first 32 bytes, raw."""
    raw = encryption_key.encode()
    if len(raw) < KEY_BYTES:
        raise RobotError("GOPHER_ENCRYPTION_KEY is shorter than 32 bytes")
    return raw[:KEY_BYTES]


def new_binary_encrypted_key(encryption_key: str) -> tuple[bytes, str]:
    """A fresh random runtime key and the text of a binary-encrypted-key file holding it (as Gopherbot writes it)."""
    key = os.urandom(KEY_BYTES)
    return key, base64.b64encode(encrypt(startup_key_bytes(encryption_key), key)).decode("ascii")


def _cipher(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise RobotError(f"an AES-256 key must be {KEY_BYTES} bytes, got {len(key)}")
    return AESGCM(key)


def _b64decode(data: str | bytes, *, what: str) -> bytes:
    """Standard padded base64, ignoring line breaks and surrounding white space (as Go's decoder ignores CR/LF)."""
    raw = data.encode("ascii", errors="replace") if isinstance(data, str) else data
    compact = b"".join(raw.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError(f"{what} is not valid base64 (truncated or corrupted?)") from None
