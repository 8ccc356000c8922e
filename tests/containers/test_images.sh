#!/usr/bin/env bash
# make test-images (issue 14; docs/operations.md "Containers"): builds the
# FinSys image (Dockerfile) and the stack's (deploy/images), starts the
# compose stack (deploy/compose.yml) with podman-compose, makes a payment
# through the server's published port and sees it settle, then removes
# everything it started and built, by name or ID.
#
# Needs root (podman as root, apt-get for what is missing: podman,
# podman-compose, buildah, runc, debootstrap). There is no registry: the
# base image, localhost/debian:bookworm (FINSYS_BASE_IMAGE), is made with
# debootstrap from the Debian mirror of the apt sources and kept between
# runs (podman rmi localhost/debian:bookworm to drop it); the rest is built
# afresh each run and removed at the end.
#
# FINSYS_IMAGES_KEEP=1 leaves the stack running and the images built (it
# prints how to remove them).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

BASE_IMAGE=${FINSYS_BASE_IMAGE:-localhost/debian:bookworm}
KEEP=${FINSYS_IMAGES_KEEP:-0}
T0=$(date +%s)
say() { echo "test-images [$(($(date +%s) - T0))s]: $*" >&2; }
fail() { echo "test-images: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "podman runs as root here: run make test-images as root"

# --- tools ----------------------------------------------------------------
missing=()
for p in podman podman-compose buildah runc debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

WORK=$(mktemp -d /tmp/finsys-images.XXXXXX)
PROJECT=finsys-images-$$
TAG=test-$$
IMAGES=() # the IDs of the images this run built
STARTED=0

# podman's settings for this sandbox (../shared/docs/platform-facts.md):
# the hard limit on open files is 20000, so the default ulimits of a
# container cannot be set; and crun does not run on these hybrid cgroups.
cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$WORK/containers.conf
# HEALTHCHECK is kept in Docker's image format only.
export BUILDAH_FORMAT=docker

compose() {
    podman-compose --no-ansi -p "$PROJECT" -f "$ROOT/deploy/compose.yml" "$@"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$KEEP" = 1 ]; then
        say "FINSYS_IMAGES_KEEP=1: left running; remove with:"
        echo "  CONTAINERS_CONF=$WORK/containers.conf podman-compose -p $PROJECT -f deploy/compose.yml down -v"
        echo "  podman network rm ${PROJECT}_default; podman rmi ${IMAGES[*]}"
        return
    fi
    if [ "$STARTED" = 1 ]; then
        if [ "$rc" -ne 0 ]; then
            for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
                    --format '{{.Names}}'); do
                echo "--- $c (last lines)" >&2
                podman logs --tail 15 "$c" >&2 2>&1 || true
            done
        fi
        compose down -v -t 10 >/dev/null 2>&1 || true
        # What down leaves: the network, and any container or volume of the
        # project (by its label) that a failed start left behind.
        for c in $(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT"); do
            podman rm -f "$c" >/dev/null 2>&1 || true
        done
        for v in $(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT"); do
            podman volume rm -f "$v" >/dev/null 2>&1 || true
        done
        podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
    fi
    for id in "${IMAGES[@]}"; do
        podman rmi -f "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
    if [ "$rc" -eq 0 ]; then say "PASS (removed the stack and ${#IMAGES[@]} images)"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the base image -----------------------------------------------------------
# apt_uri SUITE: the archive the machine's apt uses for SUITE (bookworm,
# bookworm-security), from deb822 .sources or one-line .list files.
apt_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$1" 'BEGIN { RS = ""; FS = "\n" }
            {
                uri = ""; found = 0
                for (i = 1; i <= NF; i++) {
                    n = split($i, a, /[ \t]+/)
                    if (a[1] == "URIs:") uri = a[2]
                    if (a[1] == "Suites:") for (j = 2; j <= n; j++) if (a[j] == suite) found = 1
                }
                if (found && uri != "") print uri
            }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk -v suite="$1" '$1 == "deb" {
              for (i = 2; i < NF; i++) if ($i ~ /^https?:/ && $(i + 1) == suite) { print $i; break } }'
}

if podman image exists "$BASE_IMAGE"; then
    say "base image $BASE_IMAGE: cached"
else
    mirror=$(apt_uri bookworm | head -1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    say "base image $BASE_IMAGE: debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
    # The image's apt: the same mirror, with bookworm-updates and the
    # security archive when the machine uses one.
    security=$(apt_uri bookworm-security | head -1 || true)
    {
        echo "deb $mirror bookworm main"
        echo "deb $mirror bookworm-updates main"
        if [ -n "$security" ]; then echo "deb $security bookworm-security main"; fi
    } >"$WORK/rootfs/etc/apt/sources.list"
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
    tar -C "$WORK/rootfs" -c . | podman import - "$BASE_IMAGE" >/dev/null
    rm -rf "$WORK/rootfs"
fi

# --- the images -------------------------------------------------------------------
# Built with --layers=false: no intermediate images (the build stage's
# included) are left to remove.
build() { # NAME CONTEXT [DOCKERFILE]
    local name=$1 ctx=$2 file=${3:-$2/Dockerfile} t=$(date +%s)
    podman build --layers=false --format docker --build-arg "BASE=$BASE_IMAGE" \
        --iidfile "$WORK/iid" -t "localhost/$name:$TAG" -f "$file" "$ctx" \
        >"$WORK/build-$name.log" 2>&1 \
        || { tail -30 "$WORK/build-$name.log" >&2; fail "podman build of $name"; }
    IMAGES+=("$(cat "$WORK/iid")")
    say "built localhost/$name:$TAG in $(($(date +%s) - t)) s," \
        "$(podman image inspect -f '{{.Size}}' "localhost/$name:$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
}
build finsys "$ROOT" "$ROOT/Dockerfile"
build finsys-postgres "$ROOT/deploy/images/postgres"
build finsys-redis "$ROOT/deploy/images/redis"
build finsys-nats "$ROOT/deploy/images/nats"

# The FinSys image's promises: non-root, finsys as entrypoint, a healthcheck.
cfg=$(podman image inspect -f '{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}' \
    "localhost/finsys:$TAG")
[ "$cfg" = 'finsys|["finsys"]|["server"]' ] || fail "the image's user, entrypoint, cmd: $cfg"
podman image inspect -f '{{json .Config.Healthcheck}}' "localhost/finsys:$TAG" \
    | grep -q finsys-healthcheck || fail "the image has no HEALTHCHECK"
podman run --rm "localhost/finsys:$TAG" --help >/dev/null || fail "finsys --help in the image"
[ "$(podman run --rm --entrypoint id "localhost/finsys:$TAG" -u)" != 0 ] \
    || fail "the image runs as root"

# --- the stack --------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
export FINSYS_IMAGE_TAG=$TAG FINSYS_BASE_IMAGE=$BASE_IMAGE
FINSYS_PUBLISH_HTTP_PORT=$(free_port)
FINSYS_PUBLISH_WORKER_PORT=$(free_port)
export FINSYS_PUBLISH_HTTP_PORT FINSYS_PUBLISH_WORKER_PORT
FINSYS_DB_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
FINSYS_REDIS_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
FINSYS_SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export FINSYS_DB_PASSWORD FINSYS_REDIS_PASSWORD FINSYS_SECRETS_KEY
# No declines: the payment must settle.
export FINSYS_SIM_DECLINE_RATE=0 FINSYS_SIM_ERROR_RATE=0
API=http://127.0.0.1:$FINSYS_PUBLISH_HTTP_PORT

STARTED=1
t=$(date +%s)
compose up -d --no-build >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "compose up"; }
say "compose up -d: $(($(date +%s) - t)) s"

cname() { echo "${PROJECT}_$1_1"; }
# migrate: a one-shot that retries until PostgreSQL answers.
rc=$(timeout 150 podman wait "$(cname migrate)") || fail "migrate did not finish"
[ "$rc" = 0 ] || fail "migrate exited $rc"
say "migrated"

# Readiness of the server (database, Redis, NATS) through the published port.
ready=0
for ((i = 0; i < 600; i++)); do
    if curl -fs -o /dev/null "$API/readyz"; then ready=1; break; fi
    sleep 0.1
done
[ "$ready" = 1 ] || { curl -s "$API/readyz" >&2 || true; fail "the server is not ready at $API"; }
say "server ready at $API"
curl -fs "http://127.0.0.1:$FINSYS_PUBLISH_WORKER_PORT/healthz" >/dev/null \
    || fail "the worker's /healthz"

# The images' HEALTHCHECKs, run by hand (podman-compose schedules none).
for s in server worker provider-sim postgres redis; do
    ok=0
    for ((i = 0; i < 50; i++)); do
        if podman healthcheck run "$(cname "$s")" >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.2
    done
    [ "$ok" = 1 ] || fail "healthcheck of $s"
done
say "healthchecks: server, worker, provider-sim, postgres, redis healthy"

# FinSys runs as a role that is neither a superuser nor without a password:
# the server and worker would refuse it otherwise (no FINSYS_DEV here).
podman exec "$(cname server)" printenv FINSYS_DEV >/dev/null 2>&1 && fail "FINSYS_DEV is set"

# A tenant, a key, deposits on; two accounts, a deposit, a payment.
# Through finsys-resolve-redis, as every finsys command of the stack: the
# containers' FINSYS_REDIS_URL names the host `redis`.
fs() { podman exec "$(cname server)" finsys-resolve-redis finsys "$@"; }
KEY=$(fs apikey create --tenant images) \
    || fail "apikey create"
fs tenant deposits --tenant images on >/dev/null \
    || fail "tenant deposits on"
export API KEY
python3 - <<'PY' || fail "the payment through the stack"
import json, os, time, urllib.request, uuid

API, KEY = os.environ["API"], os.environ["KEY"]


def call(method, path, body=None):
    req = urllib.request.Request(API + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + KEY,
                                          "Content-Type": "application/json",
                                          "Idempotency-Key": str(uuid.uuid4())})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


s, a = call("POST", "/v1/accounts", {"currency": "USD", "name": "images-a"})
assert s == 201, (s, a)
s, b = call("POST", "/v1/accounts", {"currency": "USD", "name": "images-b"})
assert s == 201, (s, b)
s, d = call("POST", f"/v1/accounts/{a['id']}/deposits", {"amount": 1000})
assert s == 201, (s, d)
s, p = call("POST", "/v1/payments", {"from_account": a["id"], "to_account": b["id"],
                                     "amount": 600, "currency": "USD"})
assert s == 201 and p["status"] == "pending", (s, p)
deadline = time.time() + 60
while time.time() < deadline:
    s, p = call("GET", f"/v1/payments/{p['id']}")
    assert s == 200, (s, p)
    if p["status"] != "pending":
        break
    time.sleep(0.2)
assert p["status"] == "succeeded", p
s, acct = call("GET", f"/v1/accounts/{b['id']}")
assert s == 200 and acct["balance"]["available"] == 600, (s, acct)
print(f"payment {p['id']} succeeded; the payee's balance is {acct['balance']}")
PY
say "a payment settled through the stack"
