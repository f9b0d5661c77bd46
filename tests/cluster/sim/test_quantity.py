"""Quantities come back from the API server in canonical form (values checked on a real server)."""

from __future__ import annotations

import pytest

from reconciler.cluster.sim.quantity import canonical, value_of


@pytest.mark.parametrize(("written", "stored"), [
    ("1024Mi", "1Gi"), ("256Mi", "256Mi"), ("1000Mi", "1000Mi"), ("2048Ki", "2Mi"), ("1.5Gi", "1536Mi"),
    ("0.5Gi", "512Mi"), ("10Gi", "10Gi"),
    ("250m", "250m"), ("1250m", "1250m"), ("0.5", "500m"), ("0.1", "100m"), ("2000m", "2"), ("1.5", "1500m"),
    ("1", "1"), ("0", "0"), ("1500", "1500"),
    ("1073741824", "1073741824"), ("1000000", "1M"), ("1000M", "1G"), ("1e3", "1e3"), ("1k", "1k"),
    ("512", "512"), ("0.0000000001", "1n"),
])
def test_canonical_form(written: str, stored: str) -> None:
    assert canonical(written) == stored


def test_values_compare_across_suffixes() -> None:
    assert value_of("1Gi") == value_of("1024Mi")
    assert value_of("500m") == value_of("0.5")
    assert value_of("1M") < value_of("1Mi")


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError):
        canonical("12 apples")
