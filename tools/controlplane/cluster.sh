#!/usr/bin/env bash
# Start / stop a throwaway Kubernetes control plane made of plain processes on
# 127.0.0.1: etcd, kube-apiserver (TLS, client certs + static token, RBAC),
# kube-controller-manager, kube-scheduler and a kwok controller that plays the
# kubelet for fake nodes, using the stages in ./stages.
#
#   cluster.sh up   WORKDIR [NODES]   start everything, create NODES fake nodes
#                                     (default 2), wait until usable
#   cluster.sh down WORKDIR           stop every process started by `up`
#   cluster.sh env  WORKDIR           print the cluster.env written by `up`
#
# `up` writes WORKDIR/cluster.env (KUBECONFIG, API server URL, token, ports,
# pids) and prints its path as the last stdout line. All ports are picked at
# random among free ports. Binaries come from build.sh unless CONTROLPLANE_BIN
# names a directory that already holds them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
log() { printf '[controlplane] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# ------------------------------------------------------------------ helpers
pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

stop_pid() {  # stop_pid NAME PID
  local name=$1 pid=$2 i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do          # up to 10 s
    pid_alive "$pid" || { log "stopped $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do pid_alive "$pid" || return 0; sleep 0.1; done
  log "WARNING: $name (pid $pid) still alive"
  return 1
}

cmd_down() {
  local w=$1 rc=0 name pidfile pid tier
  [[ -d "$w/run" ]] || { log "nothing to stop in $w"; return 0; }
  # Clients first, then the API server, then etcd; each tier is stopped in
  # parallel (every component needs ~2-3 s for its graceful shutdown).
  for tier in "kwok kube-scheduler kube-controller-manager" "kube-apiserver" "etcd"; do
    local pids=()
    for name in $tier; do
      pidfile="$w/run/$name.pid"
      [[ -f "$pidfile" ]] || continue
      pid=$(<"$pidfile")
      # only signal the pid if it is still the binary we started
      if pid_alive "$pid" && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == */"$name" ]]; then
        stop_pid "$name" "$pid" &
        pids+=($!)
      fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    for name in $tier; do rm -f "$w/run/$name.pid"; done
  done
  return $rc
}

free_ports() {  # free_ports N -> N distinct free TCP ports on 127.0.0.1
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

wait_for() {  # wait_for DESCRIPTION TIMEOUT_S PIDNAME command...
  local what=$1 timeout=$2 pidname=$3; shift 3
  local deadline=$(( $(date +%s) + timeout ))
  while ! "$@" >/dev/null 2>&1; do
    if [[ -n "$pidname" ]] && ! pid_alive "$(cat "$W/run/$pidname.pid" 2>/dev/null)"; then
      log "$pidname exited; last log lines:"; tail -n 30 "$W/logs/$pidname.log" >&2
      die "$pidname died while waiting for: $what"
    fi
    (( $(date +%s) < deadline )) || die "timed out after ${timeout}s waiting for: $what (logs in $W/logs)"
    sleep 0.2
  done
  log "ready: $what ($(( $(date +%s%N) / 1000000 - T0 )) ms since start)"
}

start() {  # start NAME binary args...  (stdout+stderr -> logs/NAME.log)
  local name=$1; shift
  "$@" >"$W/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$W/run/$name.pid"
  log "started $name (pid $!)"
}

# ------------------------------------------------------------------ PKI
make_pki() {
  local p=$W/pki
  mkdir -p "$p"
  (
    cd "$p"
    umask 077
    # ECDSA P-256 everywhere: key generation is ~10x faster than RSA-2048.
    local newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

    # ca NAME CN
    ca() {
      openssl req -x509 "${newkey[@]}" -days 3650 -sha256 \
        -keyout "$1.key" -out "$1.crt" -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    }
    # leaf CA NAME SUBJECT EXTKEYUSAGE [SAN]
    leaf() {
      local cacert=$1 name=$2 subj=$3 eku=$4 san=${5:-}
      openssl req "${newkey[@]}" -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
      {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$eku"
        [[ -n "$san" ]] && echo "subjectAltName=$san"
      } >"$name.ext"
      openssl x509 -req -in "$name.csr" -CA "$cacert.crt" -CAkey "$cacert.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
      rm -f "$name.csr" "$name.ext"
    }
    ca ca reconciler-test-ca
    ca front-proxy-ca reconciler-test-front-proxy-ca
    local svc_dns="DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    leaf ca apiserver "/CN=kube-apiserver" serverAuth "IP:127.0.0.1,IP:$SERVICE_IP,$svc_dns"
    leaf ca kwok-serving "/CN=kwok" serverAuth "IP:127.0.0.1,DNS:localhost"
    leaf ca admin "/O=system:masters/CN=reconciler-test-admin" clientAuth
    # the bootstrap RBAC policy already grants these well-known user names
    leaf ca controller-manager "/CN=system:kube-controller-manager" clientAuth
    leaf ca scheduler "/CN=system:kube-scheduler" clientAuth
    # kwok writes node/pod status, leases and events of fake nodes
    leaf ca kwok "/O=system:masters/CN=kwok-controller" clientAuth
    # identity of the API server towards aggregated API servers
    leaf front-proxy-ca front-proxy-client "/CN=front-proxy-client" clientAuth
    # service-account token signing key pair (ES256)
    openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -out sa.key
    openssl pkey -in sa.key -pubout -out sa.pub
    # static bearer token for the test harness (system:masters)
    printf '%s,reconciler-test-token-admin,reconciler-test-token-admin,"system:masters"\n' \
      "$ADMIN_TOKEN" >tokens.csv
  )
}

make_kubeconfig() {  # make_kubeconfig FILE CERTNAME  (certs embedded, no kubectl needed)
  local f=$1 c=$2
  b64() { base64 -w0 <"$1"; }
  ( umask 077
    cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: $API_URL
    certificate-authority-data: $(b64 "$W/pki/ca.crt")
users:
- name: $c
  user:
    client-certificate-data: $(b64 "$W/pki/$c.crt")
    client-key-data: $(b64 "$W/pki/$c.key")
contexts:
- name: test
  context: {cluster: test, user: $c}
current-context: test
EOF
  )
}

# ------------------------------------------------------------------ checks
k() { "$BIN/kubectl" --kubeconfig="$W/admin.kubeconfig" "$@"; }
etcd_ready() { curl -sf "http://127.0.0.1:$ETCD_PORT/readyz"; }
api_ready() { [[ "$(k get --raw /readyz 2>/dev/null)" == ok ]]; }
https_ok() { [[ "$(curl -sk --max-time 2 "https://127.0.0.1:$1$2")" == ok ]]; }
default_sa() { k -n default get serviceaccount default; }
nodes_ready() {
  local n
  n=$(k get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)
  (( n >= NODES ))
}

# ------------------------------------------------------------------ up
cmd_up() {
  W=$1; NODES=${2:-2}
  mkdir -p "$W"; W=$(cd "$W" && pwd)
  if [[ -d "$W/run" ]] && ls "$W"/run/*.pid >/dev/null 2>&1; then
    die "$W already has running components; run: $0 down $W"
  fi
  command -v openssl >/dev/null || die "openssl is required"
  command -v curl >/dev/null || die "curl is required"
  command -v python3 >/dev/null || die "python3 is required (free port selection)"

  if [[ -n "${CONTROLPLANE_BIN:-}" ]]; then BIN=$CONTROLPLANE_BIN
  else BIN=$("$here/build.sh" | tail -n1); fi
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [[ -x "$BIN/$b" ]] || die "missing $BIN/$b"
  done

  T0=$(( $(date +%s%N) / 1000000 ))
  trap 'rc=$?; if (( rc != 0 )); then log "up failed, stopping what was started"; cmd_down "$W" || true; fi' EXIT
  rm -rf "$W/etcd" "$W/run" "$W/logs"
  mkdir -p "$W/run" "$W/logs" "$W/kwok-workdir"

  read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT <<<"$(free_ports 6)"
  API_URL="https://127.0.0.1:$API_PORT"
  SERVICE_CIDR=10.96.0.0/16
  SERVICE_IP=10.96.0.1         # first address of SERVICE_CIDR, needs to be in the serving cert
  POD_CIDR=10.244.0.0/16       # pod IPs kwok writes into pod status (never contacted)
  ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')

  make_pki
  make_kubeconfig "$W/admin.kubeconfig" admin
  make_kubeconfig "$W/controller-manager.kubeconfig" controller-manager
  make_kubeconfig "$W/scheduler.kubeconfig" scheduler
  make_kubeconfig "$W/kwok.kubeconfig" kwok
  log "PKI and kubeconfigs ready ($(( $(date +%s%N) / 1000000 - T0 )) ms)"

  # ---- etcd (plain HTTP, loopback only, no fsync: test data only)
  start etcd "$BIN/etcd" \
    --name=test --data-dir="$W/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state=new \
    --unsafe-no-fsync=true \
    --auto-compaction-mode=periodic --auto-compaction-retention=5m \
    --quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) \
    --log-level=warn
  wait_for "etcd /readyz" 30 etcd etcd_ready

  # ---- kube-apiserver
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --endpoint-reconciler-type=none \
    --cert-dir="$W/pki/apiserver-generated" \
    --tls-cert-file="$W/pki/apiserver.crt" --tls-private-key-file="$W/pki/apiserver.key" \
    --client-ca-file="$W/pki/ca.crt" \
    --token-auth-file="$W/pki/tokens.csv" \
    --requestheader-client-ca-file="$W/pki/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$W/pki/front-proxy-client.crt" \
    --proxy-client-key-file="$W/pki/front-proxy-client.key" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$W/pki/sa.pub" \
    --service-account-signing-key-file="$W/pki/sa.key" \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --kubelet-preferred-address-types=InternalIP \
    --allow-privileged=true \
    --profiling=false \
    --v=1
  wait_for "kube-apiserver /readyz" 90 kube-apiserver api_ready

  # ---- kube-controller-manager (one service account per controller, as kubeadm does)
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$W/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$W/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$W/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
    --cert-dir="$W/pki/kcm-generated" \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$W/pki/sa.key" \
    --root-ca-file="$W/pki/ca.crt" \
    --cluster-signing-cert-file="$W/pki/ca.crt" --cluster-signing-key-file="$W/pki/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --profiling=false \
    --v=1

  # ---- kube-scheduler
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$W/scheduler.kubeconfig" \
    --authentication-kubeconfig="$W/scheduler.kubeconfig" \
    --authorization-kubeconfig="$W/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" \
    --cert-dir="$W/pki/scheduler-generated" \
    --leader-elect=false \
    --profiling=false \
    --v=1

  # ---- kwok: plays the kubelet of every node annotated kwok.x-k8s.io/node=fake.
  # KWOK_WORKDIR keeps it from reading a stray ~/.kwok/kwok.yaml.
  local stages
  stages=$(printf '%s,' "$here"/stages/*.yaml); stages=${stages%,}
  start kwok env KWOK_WORKDIR="$W/kwok-workdir" "$BIN/kwok" \
    --kubeconfig="$W/kwok.kubeconfig" \
    --config="$stages" \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --node-port="$KWOK_PORT" \
    --cidr="$POD_CIDR" \
    --node-lease-duration-seconds=40 \
    --server-address="127.0.0.1:$KWOK_PORT" \
    --tls-cert-file="$W/pki/kwok-serving.crt" --tls-private-key-file="$W/pki/kwok-serving.key"

  wait_for "kube-controller-manager /healthz" 60 kube-controller-manager https_ok "$KCM_PORT" /healthz
  wait_for "kube-scheduler /readyz" 60 kube-scheduler https_ok "$SCHED_PORT" /readyz
  wait_for "kwok /healthz" 60 kwok https_ok "$KWOK_PORT" /healthz

  # ---- fake nodes
  local i
  for (( i=0; i<NODES; i++ )); do
    sed -e "s/__NAME__/kwok-node-$i/g" -e "s/__KUBELET_VERSION__/$K8S_VERSION/g" \
      "$here/fake-node.yaml" | k apply -f - >/dev/null
  done
  wait_for "$NODES fake node(s) Ready" 60 kwok nodes_ready
  # pods can only be created once the serviceaccount controller made "default"
  wait_for "serviceaccount default/default" 60 kube-controller-manager default_sa

  cat >"$W/cluster.env" <<EOF
CONTROLPLANE_WORKDIR=$W
CONTROLPLANE_BIN=$BIN
KUBECONFIG=$W/admin.kubeconfig
KUBE_APISERVER_URL=$API_URL
KUBE_CA_FILE=$W/pki/ca.crt
KUBE_ADMIN_TOKEN=$ADMIN_TOKEN
ETCD_URL=http://127.0.0.1:$ETCD_PORT
KUBE_CONTROLLER_MANAGER_PORT=$KCM_PORT
KUBE_SCHEDULER_PORT=$SCHED_PORT
KWOK_PORT=$KWOK_PORT
EOF
  log "control plane up in $(( $(date +%s%N) / 1000000 - T0 )) ms; kubectl --kubeconfig=$W/admin.kubeconfig"
  trap - EXIT
  echo "$W/cluster.env"
}

case "${1:-}" in
  up)   [[ $# -ge 2 ]] || die "usage: $0 up WORKDIR [NODES]"; cmd_up "$2" "${3:-2}" ;;
  down) [[ $# -eq 2 ]] || die "usage: $0 down WORKDIR"; cmd_down "$(cd "$2" && pwd)" ;;
  env)  [[ $# -eq 2 ]] || die "usage: $0 env WORKDIR"; cat "$2/cluster.env" ;;
  *)    die "usage: $0 up WORKDIR [NODES] | down WORKDIR | env WORKDIR" ;;
esac
