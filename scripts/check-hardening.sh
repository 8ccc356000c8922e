#!/usr/bin/env bash
# The release binary's hardening (issue 13; docs/operations.md "Security",
# "The build"): bash scripts/check-hardening.sh [BUILD_DIR] builds BUILD_DIR
# (default: make build's, `build`, set up as make build does when missing)
# and checks its finsys:
#   full RELRO   readelf -d: BIND_NOW; readelf -l: a GNU_RELRO segment
#   PIE          readelf -d: FLAGS_1 with PIE (and the file type DYN)
#   no exec stack readelf -l: GNU_STACK is RW, not RWE
#   FORTIFY      imports __*_chk functions (memcpy, snprintf... checked)
#   canaries     imports __stack_chk_fail
#   -Wpedantic   every compile command of the build has -Wpedantic and
#                -Werror (so the build that just passed is pedantic-clean)
# Prints one line per check and "hardening: ok" or "hardening: FAILED";
# exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-build}

if [ ! -f "$DIR/build.ninja" ]; then
    meson setup "$DIR" --buildtype=release -Db_ndebug=false >/dev/null \
        || { echo "hardening: FAILED (meson setup $DIR)"; exit 1; }
fi
if ! ninja -C "$DIR" finsys >"${TMPDIR:-/tmp}/finsys-hardening-build.out" 2>&1; then
    tail -30 "${TMPDIR:-/tmp}/finsys-hardening-build.out"
    echo "hardening: FAILED (ninja -C $DIR finsys)"
    exit 1
fi
BIN=$DIR/finsys
bad=0
check() { # check NAME CONDITION-EXIT-STATUS
    if [ "$2" -eq 0 ]; then echo "  ok   $1"; else echo "  FAIL $1"; bad=1; fi
}

dyn=$(readelf -dW "$BIN")
hdr=$(readelf -hW "$BIN")
seg=$(readelf -lW "$BIN")
syms=$(readelf -sW --dyn-syms "$BIN")

grep -qE '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*\bNOW\b' <<<"$dyn"
check "BIND_NOW (readelf -d)" $?
grep -q 'GNU_RELRO' <<<"$seg"
check "GNU_RELRO segment (readelf -l)" $?
grep -qE '\(FLAGS_1\).*\bPIE\b' <<<"$dyn" && grep -qE 'Type:[[:space:]]+DYN' <<<"$hdr"
check "PIE (FLAGS_1 PIE, type DYN)" $?
grep -E 'GNU_STACK' <<<"$seg" | grep -qE 'RW[[:space:]]+0x'
check "non-executable stack (GNU_STACK RW)" $?
chk=$(grep -oE '\b__[a-z0-9_]+_chk\b' <<<"$syms" | grep -v '^__stack_chk_fail$' | sort -u)
[ -n "$chk" ]
rc=$?
check "FORTIFY_SOURCE: $(wc -w <<<"$chk" | tr -d ' ') __*_chk functions ($(tr '\n' ' ' <<<"$chk" | cut -c1-60)...)" $rc
grep -qE '\b__stack_chk_fail\b' <<<"$syms"
check "stack protector (__stack_chk_fail)" $?
# The compile commands meson wrote for the build just made: every one with
# -Wpedantic and -Werror.
cmds=$DIR/compile_commands.json
[ -f "$cmds" ] && python3 - "$cmds" <<'EOF'
import json, sys
cmds = json.load(open(sys.argv[1]))
sys.exit(0 if cmds and all('-Wpedantic' in c['command'].split() and '-Werror' in c['command'].split()
                           for c in cmds) else 1)
EOF
check "-Wpedantic -Werror in every compile command" $?

if [ "$bad" -eq 0 ]; then
    echo "hardening: ok"
else
    echo "hardening: FAILED ($BIN)"
fi
exit "$bad"
