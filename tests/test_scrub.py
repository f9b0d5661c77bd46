"""The one scrub function: no credential survives it (reconciler.md section 6)."""

from __future__ import annotations

import pytest

from reconciler.scrub import scrub, scrub_bytes


@pytest.mark.parametrize("text, secret, kept", [
    ("cannot fetch https://user:hunter2@git.example.com/soa.git", "hunter2", "https://git.example.com/soa.git"),
    ("https://ghp_abcdef123456@github.com/o/r.git", "ghp_abcdef123456", "https://github.com/o/r.git"),
    ("ssh://git:pw@host:22/r", "pw@", "ssh://host:22/r"),
    ("see https://host/r.git?access_token=tok123&ref=main", "tok123", "access_token=***&ref=main"),
    ("https://h/p?X-Amz-Signature=abcd1234&X-Amz-Credential=AKIA", "abcd1234", "X-Amz-Signature=***"),
    ("https://h/p?private_token=glpat-x1", "glpat-x1", "private_token=***"),
    ('git -c http.extraHeader="Authorization: Bearer s3cr3t" fetch', "s3cr3t", "http.extraHeader="),
    ("http.https://host/.extraheader=AUTHORIZATION: basic dXNlcjpwdw==", "dXNlcjpwdw==", ".extraheader="),
    ('{"headers": {"Authorization": "Bearer abc.def"}}', "abc.def", '"Authorization": "'),
    ("Authorization: token deadbeef", "deadbeef", "Authorization: ***"),
])
def test_credentials_go_the_rest_stays(text: str, secret: str, kept: str) -> None:
    out = scrub(text)
    assert secret not in out and kept in out, out


def test_plain_text_is_untouched_and_bytes_work() -> None:
    for text in ("file:///srv/git/soa.git", "user@example.com wrote", "a=b&c=d", "key: value", "ratio 1:2"):
        assert scrub(text) == text
    assert scrub_bytes(b"https://u:p@h/x \xff") == b"https://h/x \xff"
