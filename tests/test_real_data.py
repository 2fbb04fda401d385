"""The shipped real data: complete, documented, and read back exactly as published."""

from __future__ import annotations

import hashlib

import pytest

from real_data import DATA_DIR, DATA_FOLDERS, real_file


def _published_checksums() -> dict[str, str]:
    """``SHA256SUMS`` as {relative path: sha256}."""
    lines = (DATA_DIR / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines)}


@pytest.mark.data
def test_every_file_reads_back_as_published():
    checksums = _published_checksums()
    assert len(checksums) == 14
    for relative, digest in checksums.items():
        assert hashlib.sha256(real_file(relative).read_bytes()).hexdigest() == digest, relative


@pytest.mark.data
def test_every_shipped_file_is_checksummed_and_documented():
    shipped = {
        f"{folder}/{path.name.removesuffix('.gz')}"
        for folder in DATA_FOLDERS
        for path in (DATA_DIR / folder).iterdir()
        if not path.name.startswith("LICENSE")
    }
    assert shipped == set(_published_checksums())
    readme = (DATA_DIR / "README.md").read_text()
    assert [name for name in sorted(shipped) if f"| `{name}`" not in readme] == []


@pytest.mark.data
def test_compressed_files_keep_their_siblings():
    anet = real_file("activitynet/anet_anno_action.json")
    assert (anet.parent / "video_info_new.csv").is_file()
    assert (anet.parent / "action_name.csv").is_file()
    opentad = real_file("thumos14/thumos_14_anno_opentad.json")
    assert (opentad.parent / "category_idx.txt").is_file()


def test_a_missing_file_fails_the_test_and_names_it():
    with pytest.raises(pytest.fail.Exception, match=r"tests/data/thumos14/absent\.json"):
        real_file("thumos14/absent.json")
