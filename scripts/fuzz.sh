#!/usr/bin/env bash
# make fuzz: builds the fuzz targets of fuzz/ from meson (-Dfuzz=true in a
# build of their own, FUZZ_BUILD, default build-fuzz: clang's libFuzzer with
# AddressSanitizer and UndefinedBehaviorSanitizer, and the project's own
# arguments, so their flags are the real build's) and runs each for
# FUZZ_SECONDS (default 60) from its seed corpus in fuzz/corpus/NAME. New
# inputs go to fuzz/corpus-work/NAME (ignored by git); a crash or a sanitizer
# report is saved as FUZZ_BUILD/NAME-crash-* (or -leak-, -timeout-) and fails the run.
# FUZZ_TARGETS picks some ("notify_url search_query"); all by default:
#   api           the API's router (fs_api_route and the checks it calls)
#   notify_url    the webhook URL check (src/notify)
#   search_query  the search query string and its times (src/search)
#   redis_reply   what bytes from Redis become (hiredis' reader, src/redis)
# Reproduce a crash: FUZZ_BUILD/fuzz_NAME FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
OUT=${FUZZ_BUILD:-build-fuzz}
read -r -a TARGETS <<<"${FUZZ_TARGETS:-api notify_url search_query redis_reply}"

# A build set up by the old script (no build.ninja, clang run by hand) or for
# another compiler is set up again.
if [ ! -f "$OUT/build.ninja" ] || ! meson introspect --buildoptions "$OUT" 2>/dev/null \
    | python3 -c 'import json,sys; o={x["name"]:x["value"] for x in json.load(sys.stdin)}; sys.exit(0 if o.get("fuzz") is True else 1)'; then
    rm -rf "$OUT"
    CC=clang meson setup "$OUT" --buildtype=debugoptimized -Dfuzz=true \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C "$OUT" "${TARGETS[@]/#/fuzz_}" >/dev/null

# Any sanitizer report ends the run as a crash.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:abort_on_error=1}
for t in "${TARGETS[@]}"; do
    [ -d "fuzz/corpus/$t" ] || { echo "fuzz: no seed corpus fuzz/corpus/$t" >&2; exit 1; }
    mkdir -p "fuzz/corpus-work/$t"
    echo "fuzz: $t for ${SECONDS_TO_RUN} s"
    "$OUT/fuzz_$t" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$OUT/$t-" "fuzz/corpus-work/$t" "fuzz/corpus/$t"
done
