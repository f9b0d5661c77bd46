"""Test support code shared by several test packages (not collected as tests)."""
