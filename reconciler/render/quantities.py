"""Kubernetes quantities from soa-configs numbers, exact (decimal, never binary float)."""

from __future__ import annotations

from decimal import Decimal

Number = int | float


def decimal(value: Number) -> Decimal:
    """The number as written: 0.1 stays 0.1 (not 0.1000000000000000055...)."""
    return Decimal(str(value))


def plain(value: Decimal) -> str:
    """Decimal without exponent or trailing zeros: 2.50 -> '2.5', 4096.0 -> '4096'."""
    text = format(value.normalize(), "f")
    return text


def cpu(value: Decimal) -> str:
    """CPU cores as Kubernetes writes them: 2 -> '2', 0.25 -> '250m', 1.1 -> '1100m'."""
    if value == value.to_integral_value():
        return plain(value)
    millis = value * 1000
    if millis == millis.to_integral_value():
        return f"{plain(millis)}m"
    return plain(value)


def mebibytes(value: Number) -> str:
    return f"{plain(decimal(value))}Mi"


def gibibytes(value: Number) -> str:
    return f"{plain(decimal(value))}Gi"


def as_written(value: Number) -> str:
    """A config value the way PaaSTA puts it in the environment: 0.5 -> '0.5', 1 -> '1'."""
    return str(value)
