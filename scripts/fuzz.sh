#!/usr/bin/env bash
# make fuzz: builds fuzz/fuzz_api.c with clang's libFuzzer, AddressSanitizer
# and UndefinedBehaviorSanitizer, and runs it for FUZZ_SECONDS (default 60)
# from the seed corpus in fuzz/corpus. New inputs go to fuzz/corpus-work
# (ignored by git); a crash is saved as crash-* and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
OUT=build-fuzz
mkdir -p "$OUT" fuzz/corpus-work
# Every module but main(): the router reaches the checks of many modules, and
# some of those share a file with their module's I/O driver.
mapfile -t SRC < <(find src -name '*.c' ! -path 'src/cli/*' | sort)
SRC+=(fuzz/fuzz_api.c)
# shellcheck disable=SC2046
clang -std=c17 -g -O1 -D_POSIX_C_SOURCE=200809L -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined "${SRC[@]}" \
    $(pkg-config --cflags --libs jansson libsodium libevent libevent_pthreads libpq libnats hiredis) -lpthread -lm -o "$OUT/fuzz_api"
"$OUT/fuzz_api" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$OUT/" fuzz/corpus-work fuzz/corpus
