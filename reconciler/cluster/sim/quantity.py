"""Kubernetes resource quantities in the canonical form the API server stores ("1024Mi" -> "1Gi")."""

from __future__ import annotations

import math
import re
from fractions import Fraction

_PATTERN = re.compile(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_SUFFIX = {0: "", **{exp: suffix for suffix, exp in _BINARY.items()}}
_NANO = 10 ** 9


def parse(text: str) -> tuple[Fraction, str]:
    """(value, format) with format one of BinarySI, DecimalSI, DecimalExponent; ValueError if malformed."""
    match = _PATTERN.match(text.strip())
    if not match:
        raise ValueError(f"{text!r}: quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    sign, number, suffix = match.group(1), match.group(2), match.group(3) or ""
    value = Fraction(number)
    if suffix in _BINARY:
        value *= 2 ** _BINARY[suffix]
        fmt = "BinarySI"
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
        fmt = "DecimalSI"
    else:
        value *= Fraction(10) ** int(suffix[1:])
        fmt = "DecimalExponent"
    if value and (value * _NANO).denominator != 1:  # round up to the nano, as the server does
        value = Fraction(math.ceil(value * _NANO), _NANO)
    if sign == "-":
        value = -value
    if fmt == "BinarySI" and 0 < abs(value) < 1:
        fmt = "DecimalSI"
    return value, fmt


def canonical(text: str) -> str:
    """The canonical string of a quantity (what a round trip through the API server returns)."""
    value, fmt = parse(text)
    if value == 0:
        return "0"
    if fmt == "BinarySI" and (abs(value) < 1024 or value.denominator != 1):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        amount, exponent = int(value), 0
        while amount % 1024 == 0 and exponent < 60:
            amount //= 1024
            exponent += 10
        return f"{amount}{_BINARY_SUFFIX[exponent]}"
    amount, exponent = int(value * _NANO), -9
    while amount % 10 == 0:
        amount //= 10
        exponent += 1
    if exponent % 3 == 1:
        amount, exponent = amount * 10, exponent - 1
    elif exponent % 3 == 2:
        amount, exponent = amount * 100, exponent - 2
    if fmt == "DecimalSI" and exponent in _DECIMAL_SUFFIX:
        return f"{amount}{_DECIMAL_SUFFIX[exponent]}"
    return f"{amount}e{exponent}" if exponent else str(amount)


def value_of(text: str | int | float) -> Fraction:
    """The numeric value of a quantity (for comparisons such as requests <= limits)."""
    if isinstance(text, (int, float)):
        return Fraction(text)
    return parse(text)[0]
