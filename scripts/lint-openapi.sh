#!/usr/bin/env bash
# Lints docs/openapi.yaml with Redocly CLI (pinned in tools/openapi-lint/
# package.json and package-lock.json, rules in tools/openapi-lint/redocly.yaml).
# Exits non-zero on any problem: the ruleset turns every warning into an error.
#
# Installs what is missing: Node.js and npm from apt when `node` or `npm` is
# absent (Debian 12 gives Node 18.20 and npm 9.2, which this pinned Redocly
# 1.x supports; Redocly 2.x needs Node >= 20.19), then the linter with
# `npm ci` into tools/openapi-lint/node_modules (ignored by git). npm ci runs
# again only when package.json or package-lock.json changes.
#
# The jsep override in package.json keeps jsep at 1.4.0, the last release
# that does not require Node >= 20.16, for Debian 12's Node 18.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOL=tools/openapi-lint
DOC=${1:-docs/openapi.yaml}
NODE_MIN_MAJOR=18
NODE_MIN_MINOR=19

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "lint-openapi: node and npm are needed; install Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR with npm" >&2
        exit 1
    fi
    echo "lint-openapi: installing nodejs and npm with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

version=$(node -p 'process.versions.node')
IFS=. read -r major minor _ <<<"$version"
if [ "$major" -lt "$NODE_MIN_MAJOR" ] \
    || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -lt "$NODE_MIN_MINOR" ]; }; then
    echo "lint-openapi: Node.js $version is too old; $NODE_MIN_MAJOR.$NODE_MIN_MINOR or later is needed" >&2
    exit 1
fi

# The stamp records which package.json + package-lock.json the installed tree
# came from; a missing or different stamp means install again.
stamp=$TOOL/node_modules/.finsys-installed
want=$(cat "$TOOL/package.json" "$TOOL/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ ! -x "$TOOL/node_modules/.bin/redocly" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "lint-openapi: installing the linter (npm ci)" >&2
    # --ignore-scripts: nothing the linter needs has an install step (the only
    # script in the tree is core-js's postinstall banner).
    (cd "$TOOL" && npm ci --no-audit --no-fund --ignore-scripts --no-progress --loglevel=error)
    echo "$want" >"$stamp"
fi

# No telemetry and no update check: the lint talks to nothing.
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1 \
    "$TOOL/node_modules/.bin/redocly" lint --config "$TOOL/redocly.yaml" "$DOC"
