"""What the API server refuses, with its messages."""

from __future__ import annotations

import copy

import pytest

from reconciler.cluster.errors import Invalid
from reconciler.cluster.sim.defaults import stored_form
from reconciler.cluster.sim.validation import validate
from tests.cluster.sim.conftest import deployment, statefulset


def check(obj: dict, old: dict | None = None) -> None:  # type: ignore[type-arg]
    validate(stored_form(obj), stored_form(old) if old else None)


def test_a_valid_deployment_passes() -> None:
    check(deployment())


@pytest.mark.parametrize("name", ["Bad_Name", "-x", "x-", "a" * 254])
def test_names_must_be_dns_subdomains(name: str) -> None:
    with pytest.raises(Invalid, match="metadata.name: Invalid value"):
        check(deployment(name=name))


def test_namespace_names_are_dns_labels() -> None:
    with pytest.raises(Invalid, match="RFC 1123 label"):
        check({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}})


def test_label_values_are_checked() -> None:
    obj = deployment()
    obj["metadata"]["labels"]["bad"] = "x" * 64
    with pytest.raises(Invalid, match="must be no more than 63 characters"):
        check(obj)


def test_selector_must_match_template() -> None:
    obj = deployment()
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(Invalid) as err:
        check(obj)
    assert str(err.value) == ('Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: '
                              '{"app":"other"}: `selector` does not match template `labels`')


def test_deployment_selector_is_immutable() -> None:
    old = deployment()
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["x"] = "y"
    new["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    with pytest.raises(Invalid, match='spec.selector: Invalid value: {"matchLabels":{"app":"web","x":"y"}}: '
                                      "field is immutable"):
        check(new, old)


def test_recreate_with_rolling_update_is_forbidden() -> None:
    obj = deployment(strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}})
    with pytest.raises(Invalid, match="may not be specified when strategy `type` is 'Recreate'"):
        validate(obj, None)


def test_surge_and_unavailable_cannot_both_be_zero() -> None:
    with pytest.raises(Invalid, match="may not be 0 when `maxSurge` is 0"):
        check(deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}))


def test_statefulset_immutable_fields_listed_together() -> None:
    old = statefulset()
    new = copy.deepcopy(old)
    new["spec"]["serviceName"] = "other"
    new["spec"]["podManagementPolicy"] = "Parallel"
    with pytest.raises(Invalid) as err:
        check(new, old)
    assert str(err.value) == ('StatefulSet.apps "db" is invalid: [spec.serviceName: Invalid value: "other": '
                              'field is immutable, spec.podManagementPolicy: Invalid value: "Parallel": '
                              "field is immutable]")


def test_statefulset_claims_are_immutable_replicas_are_not() -> None:
    old = statefulset()
    old["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "d"}, "spec": {"resources": {"requests": {
        "storage": "1Gi"}}}}]
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 7
    check(scaled, old)
    grown = copy.deepcopy(old)
    grown["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    with pytest.raises(Invalid, match="spec.volumeClaimTemplates: Invalid value"):
        check(grown, old)


def test_requests_cannot_exceed_limits() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"memory": "2Gi"},
                                                                     "limits": {"memory": "1Gi"}}
    with pytest.raises(Invalid, match="must be less than or equal to memory limit of 1Gi"):
        check(obj)


def test_pdb_and_hpa_rules() -> None:
    with pytest.raises(Invalid, match="minAvailable and maxUnavailable cannot be both set"):
        check({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
               "spec": {"minAvailable": 1, "maxUnavailable": 1, "selector": {"matchLabels": {"a": "b"}}}})
    with pytest.raises(Invalid, match="must be greater than or equal to `minReplicas`"):
        check({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
               "spec": {"minReplicas": 3, "maxReplicas": 2,
                        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}}})
