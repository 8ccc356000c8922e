#!/bin/sh
# Writes stunnel's configuration from the environment and runs it in the
# foreground (its log on stderr, SIGTERM stops it).
#   REDIS_HOST  the ElastiCache primary endpoint (required)
#   REDIS_PORT  6379 by default
#   LISTEN      127.0.0.1:6379 by default: FinSys's FINSYS_REDIS_URL points here
set -eu
: "${REDIS_HOST:?REDIS_HOST: the Redis endpoint to reach over TLS}"
REDIS_PORT=${REDIS_PORT:-6379}
LISTEN=${LISTEN:-127.0.0.1:6379}
conf=$(mktemp /tmp/stunnel.XXXXXX)
cat >"$conf" <<CONF
foreground = yes
pid =
debug = notice

[redis]
client = yes
accept = $LISTEN
connect = $REDIS_HOST:$REDIS_PORT
verifyChain = yes
CAfile = /etc/ssl/certs/ca-certificates.crt
checkHost = $REDIS_HOST
sslVersionMin = TLSv1.2
CONF
exec stunnel4 "$conf"
