"""Gopherbot's encryption formats: fixed vectors made by Go (tests/vectors), round trips and damaged input."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_runtime import crypto
from robot_runtime.errors import RobotError

# Output of `cd tests/vectors && go run .` (Go's crypto/aes + cipher.NewGCM, encoding/base64, go-textwrapper).
STARTUP_KEY = "vectors-startup-key-0123456789ABCDEF-and-ignored-tail"
RUNTIME_KEY_HEX = "11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3ea"
BINARY_ENCRYPTED_KEY = "oKeutbzDytHY3+btg+IRw0kkeMZEZjOipV4KTTnpUmgwPC/9KHIxEqtZLQj2nW0ONX1BBZqAVtkufVR0"
INLINE_SECRET = "correct horse battery staple"
INLINE_VALUE = "sLe+xczT2uHo7/b93YZAialDnYblaYLa3f5u6JKsmRoolu0oMjTOt/Zmkv/xGgT1FDEdv0Ru/QM="
MEMORY_JSON = '{"Channel":"general","Items":["bananas","bread"],"Owner":"alice"}'
MEMORY_FILE = (
    "#GOPHERBOT-BASE64-DATA\n"
    "wMfO1dzj6vH4/wYN8Ao/97u6igFACPhJ7yxX8Mv0auQyZ8ZE8y6Dd8QiiHf/tbGXJtchMyZVrFxHm\n"
    "Ujd3qjRwViMPI2DfU/B+/rwK3kbPrIch110TwUm/xRnDw/A\n"
)
BOUNDARY_LENGTH = 203
BOUNDARY_FILE = (
    "#GOPHERBOT-BASE64-DATA\n"
    "0Nfe5ezz+gEIDxYdCzN7IuFU2+QvG/smKO9fpdc1yz2/VJLt0/BlbSikZBYvYw2z6CQTgwJ+ck0YN\n"
    "xNyUHBqbxHzN5p3C4db9w7HykzTJL1IaGDuIEwkWslW6Q3X88NpROFO3FdReeB1sMdxuJUgQWYf/v\n"
    "JKvYPGJijE6W8hUvSRwQsgGNCe+iiIeJqiAsc9AE5+u6V9dDYcDE5pZyJ/DwxibZ3IS5cJSktjA2X\n"
    "LVqm6fLEwkaq5UwT9ZhQIuGxbiJY3ef2oTobpjk9/vQ8chlXbVCn7FHMyCcxwtlbnmEi7WM9sRwub\n"
    "\n"
)
RUNTIME_KEY = bytes.fromhex(RUNTIME_KEY_HEX)


def go_style_open(key: bytes, blob: bytes) -> bytes:
    """An independent decryption: split nonce (12) and ciphertext+tag by hand, as Go's gcm.Open is called."""
    return AESGCM(key).decrypt(blob[:12], blob[12:], None)


def write_key_file(custom: Path, text: str, name: str = "binary-encrypted-key") -> None:
    custom.mkdir(parents=True, exist_ok=True)
    (custom / name).write_text(text)


# --- fixed vectors from Go ---------------------------------------------------------------------------------------


def test_go_binary_encrypted_key_unlocks_the_runtime_key(tmp_path: Path) -> None:
    write_key_file(tmp_path, BINARY_ENCRYPTED_KEY)
    assert crypto.runtime_key(tmp_path, STARTUP_KEY, "production") == RUNTIME_KEY


def test_go_binary_encrypted_key_with_trailing_newline(tmp_path: Path) -> None:
    write_key_file(tmp_path, BINARY_ENCRYPTED_KEY + "\n")
    assert crypto.runtime_key(tmp_path, STARTUP_KEY, "production") == RUNTIME_KEY


def test_go_inline_value_decrypts() -> None:
    assert crypto.decrypt_value(RUNTIME_KEY, INLINE_VALUE) == INLINE_SECRET


def test_go_memory_file_decodes() -> None:
    assert crypto.decode_file(RUNTIME_KEY, MEMORY_FILE.encode()) == MEMORY_JSON.encode()


def test_go_file_with_full_last_line_decodes() -> None:
    assert crypto.decode_file(RUNTIME_KEY, BOUNDARY_FILE.encode()) == b"m" * BOUNDARY_LENGTH


@pytest.mark.parametrize("go_file", [MEMORY_FILE, BOUNDARY_FILE])
def test_wrapping_matches_go_byte_for_byte(go_file: str) -> None:
    payload = crypto.unwrap_base64_file(go_file.encode())
    assert crypto.wrap_base64_file(payload) == go_file.encode()


def test_only_the_first_32_bytes_of_the_startup_key_count(tmp_path: Path) -> None:
    write_key_file(tmp_path, BINARY_ENCRYPTED_KEY)
    other_tail = STARTUP_KEY[:32] + "something else entirely"
    assert crypto.runtime_key(tmp_path, other_tail, "production") == RUNTIME_KEY


# --- Python output is readable the Go way -------------------------------------------------------------------------


def test_python_blob_layout_is_nonce_ciphertext_tag() -> None:
    blob = crypto.encrypt(RUNTIME_KEY, b"hello")
    assert len(blob) == 12 + len(b"hello") + 16
    assert go_style_open(RUNTIME_KEY, blob) == b"hello"


def test_python_inline_value_opens_the_go_way() -> None:
    value = crypto.encrypt_value(RUNTIME_KEY, INLINE_SECRET)
    assert go_style_open(RUNTIME_KEY, base64.b64decode(value)) == INLINE_SECRET.encode()


def test_python_file_opens_the_go_way() -> None:
    data = crypto.encode_file(RUNTIME_KEY, MEMORY_JSON.encode())
    header, _, body = data.partition(b"\n")
    assert header == b"#GOPHERBOT-BASE64-DATA"
    lines = body.rstrip(b"\n").split(b"\n")
    assert all(len(line) <= 77 for line in lines)
    assert all(len(line) == 77 for line in lines[:-1])
    assert go_style_open(RUNTIME_KEY, base64.b64decode(b"".join(lines))) == MEMORY_JSON.encode()


def test_new_binary_encrypted_key_opens_the_go_way(tmp_path: Path) -> None:
    key, text = crypto.new_binary_encrypted_key(STARTUP_KEY)
    assert len(key) == 32
    assert go_style_open(STARTUP_KEY.encode()[:32], base64.b64decode(text)) == key
    write_key_file(tmp_path, text)
    assert crypto.runtime_key(tmp_path, STARTUP_KEY, "production") == key


def test_encryptions_use_fresh_nonces() -> None:
    assert crypto.encrypt(RUNTIME_KEY, b"same") != crypto.encrypt(RUNTIME_KEY, b"same")


# --- round trips --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 41, 203, 204, 5000])
def test_file_round_trip(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert crypto.decode_file(RUNTIME_KEY, crypto.encode_file(RUNTIME_KEY, data)) == data


@pytest.mark.parametrize("text", ["", "p", "ünïcödé ✓", "x" * 1000])
def test_value_round_trip(text: str) -> None:
    assert crypto.decrypt_value(RUNTIME_KEY, crypto.encrypt_value(RUNTIME_KEY, text)) == text


# --- wrong keys and damaged input ----------------------------------------------------------------------------------


def test_wrong_startup_key_says_it_does_not_match(tmp_path: Path) -> None:
    write_key_file(tmp_path, BINARY_ENCRYPTED_KEY)
    wrong = "W" * 40
    with pytest.raises(RobotError) as caught:
        crypto.runtime_key(tmp_path, wrong, "production")
    assert str(caught.value) == "GOPHER_ENCRYPTION_KEY does not match custom/binary-encrypted-key"
    assert wrong[:32] not in str(caught.value)


def test_short_startup_key_is_refused(tmp_path: Path) -> None:
    write_key_file(tmp_path, BINARY_ENCRYPTED_KEY)
    with pytest.raises(RobotError, match=r"^GOPHER_ENCRYPTION_KEY is shorter than 32 bytes$"):
        crypto.runtime_key(tmp_path, STARTUP_KEY[:31], "production")


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match=r"^custom/binary-encrypted-key is missing"):
        crypto.runtime_key(tmp_path, STARTUP_KEY, "production")


def test_corrupt_key_file_is_named(tmp_path: Path) -> None:
    write_key_file(tmp_path, "not base64 at all!!")
    with pytest.raises(RobotError, match=r"^custom/binary-encrypted-key is not valid base64"):
        crypto.runtime_key(tmp_path, STARTUP_KEY, "production")


def test_truncated_key_file_does_not_match(tmp_path: Path) -> None:
    write_key_file(tmp_path, base64.b64encode(base64.b64decode(BINARY_ENCRYPTED_KEY)[:-4]).decode())
    with pytest.raises(RobotError, match="does not match custom/binary-encrypted-key"):
        crypto.runtime_key(tmp_path, STARTUP_KEY, "production")


def test_environment_selects_its_own_key_file(tmp_path: Path) -> None:
    staging_key, staging_text = crypto.new_binary_encrypted_key(STARTUP_KEY)
    write_key_file(tmp_path, BINARY_ENCRYPTED_KEY)
    write_key_file(tmp_path, staging_text, "binary-encrypted-key.staging")
    assert crypto.runtime_key(tmp_path, STARTUP_KEY, "staging") == staging_key
    assert crypto.runtime_key(tmp_path, STARTUP_KEY, "production") == RUNTIME_KEY


def test_environment_without_its_own_key_file_falls_back(tmp_path: Path) -> None:
    write_key_file(tmp_path, BINARY_ENCRYPTED_KEY)
    assert crypto.runtime_key(tmp_path, STARTUP_KEY, "development") == RUNTIME_KEY


def test_environment_key_file_mismatch_names_that_file(tmp_path: Path) -> None:
    _, other_text = crypto.new_binary_encrypted_key("Z" * 32)
    write_key_file(tmp_path, other_text, "binary-encrypted-key.staging")
    with pytest.raises(
        RobotError, match=r"^GOPHER_ENCRYPTION_KEY does not match custom/binary-encrypted-key\.staging$"
    ):
        crypto.runtime_key(tmp_path, STARTUP_KEY, "staging")


def test_value_with_wrong_key_fails_cleanly() -> None:
    with pytest.raises(crypto.DecryptionError, match="does not decrypt with this key"):
        crypto.decrypt_value(bytes(32), INLINE_VALUE)


def test_altered_value_fails_cleanly() -> None:
    blob = bytearray(base64.b64decode(INLINE_VALUE))
    blob[20] ^= 1
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_value(RUNTIME_KEY, base64.b64encode(bytes(blob)).decode())


@pytest.mark.parametrize("value", [INLINE_VALUE[:-3], "%%%", "", base64.b64encode(b"short").decode()])
def test_truncated_or_corrupt_value_fails_cleanly(value: str) -> None:
    with pytest.raises(crypto.DecryptionError) as caught:
        crypto.decrypt_value(RUNTIME_KEY, value)
    assert "\n" not in str(caught.value)


def test_file_without_header_is_refused() -> None:
    with pytest.raises(crypto.DecryptionError, match="#GOPHERBOT-BASE64-DATA"):
        crypto.decode_file(RUNTIME_KEY, MEMORY_FILE.encode().split(b"\n", 1)[1])


def test_truncated_file_is_refused() -> None:
    with pytest.raises(crypto.DecryptionError):
        crypto.decode_file(RUNTIME_KEY, MEMORY_FILE.encode()[:-20])


def test_key_of_wrong_length_is_refused() -> None:
    with pytest.raises(RobotError, match="32 bytes"):
        crypto.encrypt(b"short", b"data")


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(max_size=600))
def test_base64_file_wrapping_property(payload: bytes) -> None:
    wrapped = crypto.wrap_base64_file(payload)
    assert crypto.unwrap_base64_file(wrapped) == payload
    body = wrapped.split(b"\n", 1)[1]
    assert body.endswith(b"\n")
    lines = body.split(b"\n")[:-1]
    assert all(0 < len(line) <= 77 for line in lines if line)
    assert b"".join(lines) == base64.b64encode(payload)


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=300), flip=st.integers(min_value=0))
def test_any_altered_byte_is_detected(plaintext: bytes, flip: int) -> None:
    blob = bytearray(crypto.encrypt(RUNTIME_KEY, plaintext))
    blob[flip % len(blob)] ^= 0x01
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(RUNTIME_KEY, bytes(blob))
