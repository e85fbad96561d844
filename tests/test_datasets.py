"""The data sets read from statsmodels' files: right values, checked bytes, clear errors."""
import numpy as np
import pytest
import statsmodels.api as sm

from rnnbook import datasets


def test_sunspots_equal_statsmodels_own_loader():
    s = datasets.load_sunspots()
    ref = sm.datasets.sunspots.load_pandas().data
    np.testing.assert_array_equal(s.years, ref["YEAR"].to_numpy().astype(int))
    np.testing.assert_array_equal(s.values, ref["SUNACTIVITY"].to_numpy())
    assert (s.years[0], s.years[-1], len(s.values)) == (1700, 2008, 309)


def test_nile_equals_statsmodels_own_loader():
    n = datasets.load_nile()
    ref = sm.datasets.nile.load_pandas().data
    np.testing.assert_array_equal(n.values, ref["volume"].to_numpy())
    assert (n.years[0], n.years[-1], len(n.values)) == (1871, 1970, 100)


def test_files_have_the_recorded_sha256():
    assert datasets.sha256_of(datasets.statsmodels_file("sunspots", "sunspots.csv")) == datasets.SUNSPOTS_SHA256
    assert datasets.sha256_of(datasets.statsmodels_file("nile", "nile.csv")) == datasets.NILE_SHA256


def test_a_file_with_other_bytes_is_refused_with_a_clear_error(tmp_path):
    original = datasets.statsmodels_file("nile", "nile.csv").read_bytes()
    changed = tmp_path / "nile.csv"
    changed.write_bytes(original.replace(b"1120", b"1121"))
    with pytest.raises(ValueError, match="sha256.*differs.*requirements.txt"):
        datasets.read_checked_csv(changed, datasets.NILE_SHA256)


def test_a_missing_file_says_how_to_fix_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="requirements.txt"):
        datasets.read_checked_csv(tmp_path / "absent.csv", datasets.NILE_SHA256)
