#!/usr/bin/env bash
# The admin console (web/): `scripts/web.sh build` builds web/dist when it is
# missing or web/'s sources changed since the last build (a stamp of the
# lockfile, the configuration and src/); `scripts/web.sh test` runs its unit
# tests (vitest) and prints "web: N passed, N failed". Both run `npm ci` only
# when node_modules is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../web"

need_npm() {
    if ! command -v npm >/dev/null 2>&1; then
        echo "web: npm is missing (scripts/deps.sh installs nodejs and npm)" >&2
        exit 1
    fi
    # Vite 7 wants Node.js 20.19+ (Debian 12's own nodejs is 18).
    local v
    v=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
    if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
        echo "web: Node.js $v is too old for the console's build (needs 20.19 or newer)" >&2
        exit 1
    fi
}

# npm ci when node_modules is missing or the lockfile changed since.
deps() {
    need_npm
    local mark=node_modules/.package-lock.json
    if [ ! -f "$mark" ] || ! cmp -s <(sha256sum package-lock.json | cut -d' ' -f1) node_modules/.finsys-lock-hash; then
        echo "web: npm ci" >&2
        npm ci --no-audit --no-fund --loglevel=error >&2
        sha256sum package-lock.json | cut -d' ' -f1 >node_modules/.finsys-lock-hash
    fi
}

# A hash of everything the build reads.
stamp() {
    local paths=() p
    for p in src public index.html package.json package-lock.json tsconfig.json vite.config.ts; do
        [ -e "$p" ] && paths+=("$p")
    done
    find "${paths[@]}" -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
}

case "${1:-build}" in
build)
    s=$(stamp)
    if [ -f dist/index.html ] && [ "$(cat .build-stamp 2>/dev/null)" = "$s" ]; then
        exit 0
    fi
    deps
    echo "web: building the console (web/dist)" >&2
    npm run --silent build >&2
    echo "$s" >.build-stamp
    ;;
test)
    deps
    out=$(npx vitest run --reporter=default --silent 2>&1) && rc=0 || rc=$?
    p=$(grep -E '^ +Tests +' <<<"$out" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
    f=$(grep -E '^ +Tests +' <<<"$out" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    [ "$f" -ne 0 ] && tail -60 <<<"$out"
    echo "web: $p passed, $f failed"
    [ "$f" -eq 0 ]
    ;;
*)
    echo "usage: scripts/web.sh build|test" >&2
    exit 2
    ;;
esac
