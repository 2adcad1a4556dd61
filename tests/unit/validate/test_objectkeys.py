"""validate.objectkeys: which texts are safe OSS object keys, and the message for each unsafe kind."""

from __future__ import annotations

import pytest

from specrunner.validate.objectkeys import object_key_problem


@pytest.mark.parametrize(
    "key", ["videos/a.mp4", "a.mp4", "a b/c d.mp4", "..a/b..mp4", "x/.hidden.mp4", "100%.mp4", "é/ü.mp4"]
)
def test_safe_keys(key: str) -> None:
    assert object_key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("/videos/a.mp4", "object keys must not start with '/'; write the key relative to the bucket"),
        ("videos/a\tb.mp4", "object keys must not contain control characters"),
        ("videos\\a.mp4", "object keys must not contain '\\'; OSS folders are separated by '/'"),
        ("videos/../a.mp4", "object key must name a file: no '..' segments and no trailing '/'"),
        ("videos/", "object key must name a file: no '..' segments and no trailing '/'"),
        ("videos/./a.mp4", "object keys must not contain '.' segments ('a/./b'); write 'a/b'"),
        ("a" * 1024, "an object key has 1 to 1,023 bytes (MTS error code list); this one has 1,024"),
        ("é" * 512, "an object key has 1 to 1,023 bytes (MTS error code list); this one has 1,024"),
        (
            "videos/%2E%2E/a.mp4",
            "object key looks URL-encoded and decodes to an unsafe key ('%2F..', '%00', ...); write keys as "
            "plain text: specrunner encodes them",
        ),
        (
            "%2Fa.mp4",
            "object key looks URL-encoded and decodes to an unsafe key ('%2F..', '%00', ...); write keys as "
            "plain text: specrunner encodes them",
        ),
    ],
)
def test_unsafe_keys_say_why(key: str, message: str) -> None:
    assert object_key_problem(key) == message
