"""The report page escapes everything it shows: messages, paths and values come from configs and
clusters, and none of them may inject markup."""

from __future__ import annotations

from reconciler.daemon import page

EVIL = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>'


def test_hostile_text_everywhere_is_escaped() -> None:
    row = {"cluster": EVIL, "service": "svc", "instance": EVIL, "status": "Invalid", "message": EVIL,
           "desired": {"git_sha": EVIL, "config_sha": EVIL, "replicas": 1},
           "live": {"git_sha": EVIL, "config_sha": EVIL, "replicas": EVIL, "ready_replicas": EVIL},
           "differences": [{"path": EVIL, "desired": EVIL, "live": EVIL}], "since": EVIL,
           "train": {"halted": True, "failed_config_sha": EVIL, "reason": EVIL}}
    html = page.render({"generated_at": EVIL, "source": {"soa_configs_commit": EVIL, "deployments_commit": EVIL,
                                                          "error": EVIL},
                        "clusters": {EVIL: {"reachable": False, "error": EVIL}}, "instances": [row]})
    assert "<script" not in html and "<img" not in html  # present only as escaped text
    assert html.count("&lt;script&gt;") >= 10
    assert "need attention" not in html and "unreachable: &lt;script&gt;" in html


def test_an_invalid_row_is_never_all_settled() -> None:
    row = {"cluster": "c1", "service": "svc", "instance": "*", "status": "Invalid", "message": "svc/kubernetes-c1.yaml: bad",
           "desired": None, "live": None, "differences": [], "since": None,
           "train": {"halted": False, "failed_config_sha": None, "reason": None}}
    html = page.render({"generated_at": "now", "source": {}, "clusters": {"c1": {"reachable": True}},
                        "instances": [row]})
    assert "1 need attention" in html and "all settled" not in html
    assert '<tr data-status="Invalid"><td>c1</td><td>svc.*</td>' in html
