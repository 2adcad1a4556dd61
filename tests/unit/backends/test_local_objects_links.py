"""The local engine's lister resolves each folder once per run: links must still never lead out of
the bucket, and a link inside it is followed, exactly as ``ObjectStore.path`` decides."""

from __future__ import annotations

import hashlib
from pathlib import Path

from specrunner.backends.listing import LocalObjects


def test_links_out_of_the_bucket_are_no_objects_and_links_inside_are_followed(tmp_path: Path) -> None:
    root = tmp_path / "oss"
    bucket = root / "media-out"
    (bucket / "posters").mkdir(parents=True)
    (bucket / "posters" / "a.jpg").write_bytes(b"a")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "b.jpg").write_bytes(b"secret")
    (bucket / "posters" / "b.jpg").symlink_to(outside / "b.jpg")  # a file link leaving the bucket
    (bucket / "out").symlink_to(outside)  # a folder link leaving the bucket
    (bucket / "inside").symlink_to(bucket / "posters")  # a folder link staying inside
    (bucket / "posters" / "c.jpg").symlink_to(bucket / "posters" / "a.jpg")  # a file link inside
    lister = LocalObjects(root)
    md5 = hashlib.md5(b"a").hexdigest().upper()
    found = lister.lookup("media-out", ["posters/a.jpg", "posters/b.jpg", "out/b.jpg", "inside/a.jpg"])
    assert [(o.key, o.etag) for o in found] == [("inside/a.jpg", md5), ("posters/a.jpg", md5)]
    assert lister.etag("media-out", "posters/c.jpg") is not None
    assert lister.etag("media-out", "posters/../posters/a.jpg") is None  # a key the engine refuses
    assert lister.etag("media-out", "out/b.jpg") is None  # the folder resolved once, still refused
