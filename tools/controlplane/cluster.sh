#!/usr/bin/env bash
# Start / stop a throwaway Kubernetes control plane made of plain processes on
# 127.0.0.1: etcd, kube-apiserver (TLS, client certs + static token, RBAC),
# kube-controller-manager, kube-scheduler and a kwok controller that plays the
# kubelet for fake nodes, using the stages in ./stages.
#
#   cluster.sh up     WORKDIR [NODES]  start everything, create NODES fake nodes
#                                      (default 2), wait until usable
#   cluster.sh down   WORKDIR [--now]  stop every process started by `up`
#                                      (--now: SIGKILL at once, no graceful stop)
#   cluster.sh env    WORKDIR          print the cluster.env written by `up`
#   cluster.sh status WORKDIR          one line per component; exit 0 when all
#                                      run, 3 when none does, 1 when some do
#
# `up` writes WORKDIR/cluster.env (KUBECONFIG, API server URL, token, ports)
# and prints its path as the last stdout line. Binaries come from build.sh
# unless CONTROLPLANE_BIN names a directory that already holds them.
#
# Ports: random free 127.0.0.1 ports below the kernel's ephemeral range (so an
# outgoing connection can never take one between the check and the bind). A
# component that still loses its port (to a concurrent `up`) makes `up` retry
# with new ports (CONTROLPLANE_UP_ATTEMPTS, default 3), and a health answer on a
# port only counts once our own process is seen listening on it.
#
# Lifetime: each component runs in its own session (setsid), so a Ctrl-C or a
# signal sent to the caller's process group never hits it half-way; `down`
# stops them in two tiers (clients + API server, then etcd), SIGTERM first and
# SIGKILL after CONTROLPLANE_STOP_TIMEOUT seconds (default 10; an API server
# whose etcd is gone ignores SIGTERM for minutes), then SIGKILLs any process of
# the five binaries whose arguments point into WORKDIR (pid files or not).
# With CONTROLPLANE_WATCH_PID=<pid>, `up` also starts a watchdog (own session)
# that runs `down` as soon as that process is gone, even if it was SIGKILLed.
# If `up` fails or is interrupted (INT/TERM/HUP), it stops what it started.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=versions.env
source "$here/versions.env"
# LOG_FD: `up` logs through a copy of its stderr, so that a trap which fires
# while a check runs with 2>/dev/null still reaches the caller
# (|| true: a reader that went away must not stop a cleanup half-way)
log() { printf '[controlplane] %s\n' "$*" >&"${LOG_FD:-2}" 2>/dev/null || true; }
die() { log "ERROR: $*"; exit 1; }
EX_PORT_CONFLICT=75   # exit status of one `up` attempt that lost a port

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
STOP_TIMEOUT=${CONTROLPLANE_STOP_TIMEOUT:-10}

# ------------------------------------------------------------------ process helpers

# stat_field PID N: field N (>= 3) of /proc/PID/stat
stat_field() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  local n=$(( $2 - 2 ))
  stat=${stat##*) }           # drop "pid (comm) ", comm may hold spaces
  # shellcheck disable=SC2086
  set -- $stat
  echo "${!n}"
}
start_time() { stat_field "$1" 22; }   # tells a pid apart from a later reuse

# pid_alive PID: running, and not a zombie (an orphan killed here stays a zombie
# until init reaps it, which can take seconds)
pid_alive() {
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && [[ "$(stat_field "$1" 3 2>/dev/null)" != Z ]]
}

# cmdline_has PID STRING: one argument of PID contains STRING
cmdline_has() { tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }

# is_component NAME PID W: PID runs the binary NAME with arguments inside W
is_component() {
  local name=$1 pid=$2 w=$3 exe
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  [[ "${exe##*/}" == "$name" ]] && cmdline_has "$pid" "=$w/"
}

# signal_proc SIG PID: the whole process group when PID leads one (setsid), else PID
signal_proc() {
  local sig=$1 pid=$2 pgid
  pgid=$(stat_field "$pid" 5) || return 0
  if [[ "$pgid" == "$pid" ]]; then kill "-$sig" -- "-$pid" 2>/dev/null || true
  else kill "-$sig" "$pid" 2>/dev/null || true; fi
}

stop_pid() {  # stop_pid NAME PID TIMEOUT_S
  local name=$1 pid=$2 timeout=$3 i
  pid_alive "$pid" || return 0
  if (( timeout > 0 )); then
    signal_proc TERM "$pid"
    for (( i = 0; i < timeout * 10; i++ )); do
      pid_alive "$pid" || { log "stopped $name (pid $pid)"; return 0; }
      sleep 0.1
    done
    log "$name (pid $pid) ignored SIGTERM for ${timeout}s, sending SIGKILL"
  fi
  signal_proc KILL "$pid"
  for (( i = 0; i < 50; i++ )); do
    pid_alive "$pid" || { log "killed $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  log "WARNING: $name (pid $pid) still alive after SIGKILL"
  return 1
}

# component_pids W: "NAME PID" of every live component process of W, found
# through /proc, so it works without pid files (crashed `up`, lost run/ dir)
component_pids() {
  local w=$1 pid name pattern
  pattern=$(printf '%s' "=$w/" | sed 's/[][\.*^$+?(){}|]/\\&/g')
  for pid in $(pgrep -f -- "$pattern" 2>/dev/null || true); do
    for name in "${COMPONENTS[@]}"; do
      if is_component "$name" "$pid" "$w"; then echo "$name $pid"; break; fi
    done
  done
}

# ------------------------------------------------------------------ down
cmd_down() {  # cmd_down W [--now]
  local w=$1 now=${2:-} rc=0 name pidfile pid tier timeout=$STOP_TIMEOUT i
  [[ "$now" == --now ]] && timeout=0
  [[ "$timeout" =~ ^[0-9]+$ ]] || die "CONTROLPLANE_STOP_TIMEOUT must be a whole number of seconds"
  if [[ ! -d "$w" ]]; then log "nothing to stop: $w does not exist"; return 0; fi

  # the watchdog (unless it is the process running this `down`)
  pid=$(cat "$w/run/watchdog.pid" 2>/dev/null || true)
  rm -f "$w/run/watchdog.pid"
  if [[ -n "$pid" && "$pid" != "$$" ]] && pid_alive "$pid" && cmdline_has "$pid" "$w"; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  # an `up` still starting things (its caller was interrupted, say): stop it
  # first; its EXIT trap takes down what it had started
  pid=$(cat "$w/run/up.pid" 2>/dev/null || true)
  if [[ -n "$pid" && "$pid" != "$$" ]] && pid_alive "$pid" \
     && cmdline_has "$pid" _up_once && cmdline_has "$pid" "$w"; then
    log "stopping the unfinished 'up' (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 600; i++ )); do pid_alive "$pid" || break; sleep 0.1; done
  fi

  # Clients and the API server together, then etcd (an API server whose etcd
  # is already gone hangs in its shutdown); each tier in parallel.
  if [[ -d "$w/run" ]]; then
    for tier in "kwok kube-scheduler kube-controller-manager kube-apiserver" "etcd"; do
      local pids=()
      for name in $tier; do
        pidfile="$w/run/$name.pid"
        [[ -f "$pidfile" ]] || continue
        pid=$(<"$pidfile")
        # only signal the pid if it is still the process we started
        if pid_alive "$pid" && is_component "$name" "$pid" "$w"; then
          stop_pid "$name" "$pid" "$timeout" &
          pids+=($!)
        fi
      done
      for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || rc=1; done
      for name in $tier; do rm -f "$w/run/$name.pid"; done
    done
  fi

  # whatever is left of W without (or with a stale) pid file
  local stray=0
  while read -r name pid; do
    [[ -n "$name" ]] || continue
    log "stray $name (pid $pid) of $w: SIGKILL"
    signal_proc KILL "$pid"; stray=1
  done < <(component_pids "$w")
  if (( stray )); then
    for (( i = 0; i < 50; i++ )); do [[ -z "$(component_pids "$w")" ]] && break; sleep 0.1; done
    if [[ -n "$(component_pids "$w")" ]]; then log "WARNING: processes of $w survive SIGKILL"; rc=1; fi
  fi
  rm -f "$w/run/up.pid"
  return $rc
}

# ------------------------------------------------------------------ status
cmd_status() {
  local w=$1 name pid up=0
  [[ -d "$w" ]] || { echo "no control plane in $w"; return 3; }
  for name in "${COMPONENTS[@]}"; do
    pid=$(cat "$w/run/$name.pid" 2>/dev/null || true)
    if [[ -n "$pid" ]] && pid_alive "$pid" && is_component "$name" "$pid" "$w"; then
      printf '%-24s running (pid %s)\n' "$name" "$pid"; up=$((up + 1))
    else
      printf '%-24s stopped\n' "$name"
    fi
  done
  (( up == ${#COMPONENTS[@]} )) && return 0
  (( up == 0 )) && return 3
  return 1
}

# ------------------------------------------------------------------ watchdog
# _watch W PID START_TIME (own session): once PID with that start time is
# gone, exec `down W` (which also stops an unfinished `up`). Exits quietly
# when `down` removed its pid file.
cmd_watch() {
  local w=$1 pid=$2 st=$3 me=$$
  trap 'exit 0' TERM INT HUP
  while [[ "$(cat "$w/run/watchdog.pid" 2>/dev/null || true)" == "$me" ]]; do
    if [[ "$(start_time "$pid" 2>/dev/null || true)" != "$st" ]] || ! pid_alive "$pid"; then
      log "watched process $pid is gone: stopping the control plane in $w"
      exec "$self" down "$w"
    fi
    sleep 0.5
  done
}

free_ports() {  # free_ports N -> N distinct free TCP ports on 127.0.0.1
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = map(int, f.read().split())
except (OSError, ValueError):
    lo, hi = 32768, 60999
# Outside the ephemeral range: outgoing connections never pick these ports.
if lo - 10000 >= 2000:
    pool = range(10000, lo)
elif 65535 - hi >= 2000:
    pool = range(hi + 1, 65536)
else:
    pool = None
rng = random.SystemRandom()
socks = []
for attempt in range(2000):
    if len(socks) == n:
        break
    s = socket.socket()
    try:  # no SO_REUSEADDR: also refuses ports in TIME_WAIT or bound to 0.0.0.0
        s.bind(("127.0.0.1", rng.choice(pool) if pool and attempt < 1000 else 0))
    except OSError:
        s.close()
        continue
    socks.append(s)
if len(socks) < n:
    sys.exit("no free ports")
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# listens PID PORT: PID has a TCP socket listening on PORT
listens() {
  python3 - "$1" "$2" <<'PY'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
try:
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
except OSError:
    sys.exit(1)
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        with open(table) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port and f[9] in inodes:
            sys.exit(0)
sys.exit(1)
PY
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
# ------------------------------------------------------------------ checks
k() { "$BIN/kubectl" --kubeconfig="$W/admin.kubeconfig" "$@"; }
etcd_ready() { curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/readyz"; }
api_ready() { [[ "$(k --request-timeout=5s get --raw /readyz 2>/dev/null)" == ok ]]; }
https_ok() { [[ "$(curl -sk --max-time 2 "https://127.0.0.1:$1$2")" == ok ]]; }
default_sa() { k -n default get serviceaccount default; }
nodes_ready() {
  local n
  n=$(k get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)
  (( n >= NODES ))
}

# died NAME: report why component NAME exited; a lost port ends this attempt
# with EX_PORT_CONFLICT so that `up` retries with new ports
died() {
  local name=$1
  log "$name exited; last log lines:"; tail -n 30 "$W/logs/$name.log" >&"${LOG_FD:-2}" || true
  if grep -qiE 'address already in use' "$W/logs/$name.log" 2>/dev/null; then
    log "$name lost its port to another process"
    exit $EX_PORT_CONFLICT
  fi
  die "$name died during start-up (logs in $W/logs)"
}

wait_for() {  # wait_for DESCRIPTION TIMEOUT_S PIDNAME command...
  local what=$1 timeout=$2 pidname=$3; shift 3
  local deadline=$(( $(date +%s) + timeout ))
  while ! "$@" >/dev/null 2>&1; do
    if [[ -n "$pidname" ]] && ! pid_alive "$(cat "$W/run/$pidname.pid" 2>/dev/null)"; then
      died "$pidname"
    fi
    (( $(date +%s) < deadline )) || die "timed out after ${timeout}s waiting for: $what (logs in $W/logs)"
    sleep 0.2
  done
  log "ready: $what ($(( $(date +%s%N) / 1000000 - T0 )) ms since start)"
}

# owns_port NAME PORT...: a health answer on a port only counts if our own
# NAME process listens there (a concurrent cluster may have won the port)
owns_port() {
  local name=$1 pid port i; shift
  pid=$(cat "$W/run/$name.pid")
  for port in "$@"; do
    for (( i = 0; ; i++ )); do
      pid_alive "$pid" || died "$name"
      listens "$pid" "$port" && break
      if (( i >= 25 )); then
        log "$name (pid $pid) runs but does not listen on 127.0.0.1:$port"
        exit $EX_PORT_CONFLICT
      fi
      sleep 0.2
    done
  done
}

start() {  # start NAME binary args...  (stdout+stderr -> logs/NAME.log, own session)
  local name=$1; shift
  setsid "$@" >"$W/logs/$name.log" 2>&1 </dev/null 3>&- &
  echo $! >"$W/run/$name.pid"
  disown $!
  log "started $name (pid $!)"
}

# ------------------------------------------------------------------ up
# One attempt, in its own process (`cluster.sh _up_once`), so that set -e
# holds inside it and `up` can retry after a port conflict.
cmd_up_once() {
  W=$1; NODES=$2; BIN=$3
  exec 3>&2; LOG_FD=3
  T0=$(( $(date +%s%N) / 1000000 ))
  trap 'rc=$?; trap "" PIPE INT TERM HUP
        if (( rc != 0 )); then log "up failed, stopping what was started"; cmd_down "$W" --now || true; fi' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  trap 'exit 129' HUP
  rm -rf "$W/etcd" "$W/run" "$W/logs" "$W/cluster.env"
  mkdir -p "$W/run" "$W/logs" "$W/kwok-workdir"
  echo $$ >"$W/run/up.pid"

  if [[ -n "${CONTROLPLANE_WATCH_PID:-}" ]]; then
    local watched_start
    watched_start=$(start_time "$CONTROLPLANE_WATCH_PID") \
      || die "CONTROLPLANE_WATCH_PID=$CONTROLPLANE_WATCH_PID is not a running process"
    setsid "$self" _watch "$W" "$CONTROLPLANE_WATCH_PID" "$watched_start" \
      >>"$W/logs/watchdog.log" 2>&1 </dev/null 3>&- &
    echo $! >"$W/run/watchdog.pid"
    disown $!
    log "watchdog (pid $!) stops this control plane when pid $CONTROLPLANE_WATCH_PID exits"
  fi

  read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT <<<"$(free_ports 6)"
  [[ -n "$KWOK_PORT" ]] || die "could not find free ports"
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
  # plain HTTP without auth: make sure it is our etcd before an API server uses it
  owns_port etcd "$ETCD_PORT" "$ETCD_PEER_PORT"

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
  # (TLS with our own CA: another cluster's API server cannot pass this check)
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
  owns_port kube-controller-manager "$KCM_PORT"
  wait_for "kube-scheduler /readyz" 60 kube-scheduler https_ok "$SCHED_PORT" /readyz
  owns_port kube-scheduler "$SCHED_PORT"
  wait_for "kwok /healthz" 60 kwok https_ok "$KWOK_PORT" /healthz
  owns_port kwok "$KWOK_PORT"

  # ---- fake nodes
  local i
  for (( i=0; i<NODES; i++ )); do
    sed -e "s/__NAME__/kwok-node-$i/g" -e "s/__KUBELET_VERSION__/$K8S_VERSION/g" \
      "$here/fake-node.yaml" | k apply -f - >/dev/null
  done
  wait_for "$NODES fake node(s) Ready" 60 kwok nodes_ready
  # pods can only be created once the serviceaccount controller made "default"
  wait_for "serviceaccount default/default" 60 kube-controller-manager default_sa

  local name
  for name in "${COMPONENTS[@]}"; do
    pid_alive "$(cat "$W/run/$name.pid")" || died "$name"
  done
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
  rm -f "$W/run/up.pid"
  log "control plane up in $(( $(date +%s%N) / 1000000 - T0 )) ms; kubectl --kubeconfig=$W/admin.kubeconfig"
  trap - EXIT
}

cmd_up() {
  local w=$1 nodes=$2 bin b name pid attempt rc
  [[ "$nodes" =~ ^[0-9]+$ ]] || die "NODES must be a number, got: $nodes"
  mkdir -p "$w"; w=$(cd "$w" && pwd -P)
  for name in "${COMPONENTS[@]}"; do
    pid=$(cat "$w/run/$name.pid" 2>/dev/null || true)
    if [[ -n "$pid" ]] && pid_alive "$pid" && is_component "$name" "$pid" "$w"; then
      die "$w already has running components; run: $self down $w"
    fi
  done
  [[ -z "$(component_pids "$w")" ]] || die "processes of $w are still running; run: $self down $w"
  command -v openssl >/dev/null || die "openssl is required"
  command -v curl >/dev/null || die "curl is required"
  command -v python3 >/dev/null || die "python3 is required (port selection)"
  command -v setsid >/dev/null || die "setsid (util-linux) is required"

  if [[ -n "${CONTROLPLANE_BIN:-}" ]]; then bin=$CONTROLPLANE_BIN
  else bin=$("$here/build.sh" | tail -n1); fi
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [[ -x "$bin/$b" ]] || die "missing $bin/$b"
  done

  # Each attempt runs as a child; forward INT/TERM/HUP to it (its own traps
  # stop what it started), then exit with the matching status.
  local child=""
  trap '' PIPE   # keep going (and cleaning up) when whoever reads our stderr goes away
  trap 'if [[ -n "$child" ]]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; exit 143' TERM
  trap 'if [[ -n "$child" ]]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; exit 130' INT
  trap 'if [[ -n "$child" ]]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; exit 129' HUP
  local attempts=${CONTROLPLANE_UP_ATTEMPTS:-3}
  for (( attempt = 1; attempt <= attempts; attempt++ )); do
    "$self" _up_once "$w" "$nodes" "$bin" &
    child=$!
    rc=0; wait "$child" || rc=$?
    child=""
    (( rc == 0 )) && { echo "$w/cluster.env"; return 0; }
    (( rc == EX_PORT_CONFLICT )) || exit "$rc"
    log "attempt $attempt/$attempts lost a port to another process; retrying with new ports"
  done
  die "gave up after $attempts attempts (port conflicts)"
}

case "${1:-}" in
  up)       [[ $# -ge 2 && $# -le 3 ]] || die "usage: $0 up WORKDIR [NODES]"; cmd_up "$2" "${3:-2}" ;;
  down)     [[ $# -eq 2 || ( $# -eq 3 && "$3" == --now ) ]] || die "usage: $0 down WORKDIR [--now]"
            if [[ -d "$2" ]]; then cmd_down "$(cd "$2" && pwd -P)" "${3:-}"; else log "nothing to stop: $2 does not exist"; fi ;;
  env)      [[ $# -eq 2 ]] || die "usage: $0 env WORKDIR"; cat "$2/cluster.env" ;;
  status)   [[ $# -eq 2 ]] || die "usage: $0 status WORKDIR"
            if [[ -d "$2" ]]; then cmd_status "$(cd "$2" && pwd -P)"; else cmd_status "$2"; fi ;;
  _up_once) cmd_up_once "$2" "$3" "$4" ;;
  _watch)   cmd_watch "$2" "$3" "$4" ;;
  *)        die "usage: $0 up WORKDIR [NODES] | down WORKDIR [--now] | env WORKDIR | status WORKDIR" ;;
esac
