#!/usr/bin/env bash
# End-to-end check of the real-Kubernetes test tier:
#   build (cached) -> cluster.sh up (2 fake nodes) -> Deployment of 3 busybox
#   pods becomes Ready -> "crashloop" pods never become Ready and report
#   CrashLoopBackOff -> a Job completes -> deleted pods go away ->
#   cluster.sh down -> no process of this cluster is left.
# Prints timings; exits non-zero on the first failed check.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[smoke] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

BIN=${CONTROLPLANE_BIN:-$("$here/build.sh" | tail -n1)}
export CONTROLPLANE_BIN=$BIN
W=$(mktemp -d "${TMPDIR:-/tmp}/controlplane-smoke.XXXXXX")
cleanup() {
  "$here/cluster.sh" down "$W" || true
  if [[ "${KEEP_WORKDIR:-0}" != 1 ]]; then rm -rf "$W"; else log "kept $W"; fi
}
trap cleanup EXIT

t_start=$(ms)
env_file=$("$here/cluster.sh" up "$W" 2 | tail -n1)
t_up=$(ms)
# shellcheck disable=SC1090
source "$env_file"
k() { "$BIN/kubectl" --kubeconfig="$KUBECONFIG" "$@"; }

wait_until() {  # wait_until TIMEOUT_S DESCRIPTION command...
  local timeout=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || fail "timed out after ${timeout}s: $what"
    sleep 0.2
  done
}

k get nodes -o wide >&2

# ---------------------------------------------------------------- deployment
k apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: main, image: busybox, command: [sleep, infinity]}
EOF
t_deploy=$(ms)
ready_count() {
  k get pods -l "app=$1" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true
}
first_ready() { (( $(ready_count web) >= 1 )); }
all_ready() { (( $(ready_count web) == 3 )); }
wait_until 60 "first Ready pod of deployment web" first_ready
t_first=$(ms)
wait_until 60 "3 Ready pods of deployment web" all_ready
k rollout status deployment/web --timeout=60s >&2
t_all=$(ms)
k get pods -l app=web -o wide >&2
nodes_used=$(k get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u)
grep -q '^kwok-node-' <<<"$nodes_used" || fail "pods not scheduled on kwok nodes: $nodes_used"
log "web pods on nodes: $(tr '\n' ' ' <<<"$nodes_used")"

# ---------------------------------------------------------------- crashloop
k apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: broken}}
  template:
    metadata: {labels: {app: broken}}
    spec:
      containers:
      - {name: app, image: "registry.invalid/crashloop:1.0"}
      - {name: sidecar, image: busybox, command: [sleep, infinity]}
EOF
crash_reported() {
  local reasons
  reasons=$(k get pods -l app=broken -o jsonpath='{range .items[*]}{.status.containerStatuses[?(@.name=="app")].state.waiting.reason}{"\n"}{end}')
  [[ $(grep -c '^CrashLoopBackOff$' <<<"$reasons") -eq 2 ]]
}
wait_until 60 "CrashLoopBackOff reported by both broken pods" crash_reported
sleep 5   # give a wrong stage the chance to flip the pods to Ready
k get pods -l app=broken -o wide >&2
pod=$(k get pods -l app=broken -o jsonpath='{.items[0].metadata.name}')
get() { k get pod "$pod" -o jsonpath="$1"; }
[[ "$(get '{.status.phase}')" == Running ]] || fail "crashloop pod phase is $(get '{.status.phase}')"
[[ "$(get '{.status.conditions[?(@.type=="Ready")].status}')" == False ]] || fail "crashloop pod became Ready"
[[ "$(get '{.status.conditions[?(@.type=="ContainersReady")].status}')" == False ]] || fail "ContainersReady not False"
[[ "$(get '{.status.containerStatuses[?(@.name=="app")].ready}')" == false ]] || fail "app container ready"
(( $(get '{.status.containerStatuses[?(@.name=="app")].restartCount}') > 0 )) || fail "restartCount is 0"
[[ "$(get '{.status.containerStatuses[?(@.name=="app")].lastState.terminated.exitCode}')" == 1 ]] || fail "no lastState.terminated"
[[ "$(get '{.status.containerStatuses[?(@.name=="sidecar")].ready}')" == true ]] || fail "sidecar not running"
(( $(ready_count broken) == 0 )) || fail "a crashloop pod is Ready"
avail=$(k get deployment broken -o jsonpath='{.status.availableReplicas}')
[[ -z "$avail" || "$avail" == 0 ]] || fail "deployment broken has $avail available replicas"
k get events --field-selector "involvedObject.name=$pod,reason=BackOff" -o name | grep -q . || fail "no BackOff event"
log "crashloop pods: Running, not Ready, CrashLoopBackOff, BackOff event recorded"

# ---------------------------------------------------------------- job
k create job once --image=busybox -- true >/dev/null
k wait --for=condition=complete job/once --timeout=60s >&2

# ---------------------------------------------------------------- deletion
k delete deployment web broken --wait=false >/dev/null
no_pods() { [[ -z "$(k get pods -l 'app in (web,broken)' -o name)" ]]; }
wait_until 60 "pods of deleted deployments gone" no_pods

# ---------------------------------------------------------------- teardown
t_checks=$(ms)
"$here/cluster.sh" down "$W"
t_down=$(ms)
# only this smoke run's processes (other clusters of the same bin dir may run)
leftover=""
for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null || true)
  [[ "$exe" == "$BIN"/* ]] || continue
  tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qF -- "=$W/" && leftover+=" ${p#/proc/}:$exe"
done
[[ -z "$leftover" ]] || fail "stray processes:$leftover"

cat >&2 <<EOF
[smoke] PASS
[smoke] control plane up (incl. PKI, 2 Ready nodes):  $(( t_up - t_start )) ms
[smoke] deployment created -> first Ready pod:         $(( t_first - t_deploy )) ms
[smoke] deployment created -> 3/3 Ready + rolled out:  $(( t_all - t_deploy )) ms
[smoke] start -> first Ready pod:                      $(( t_first - t_start )) ms
[smoke] crashloop + job + deletion checks:             $(( t_checks - t_all )) ms
[smoke] teardown (cluster.sh down):                    $(( t_down - t_checks )) ms
EOF
