# Sourced by tests/cli/*.sh: tiny assertion helpers for CLI tests.
# $ML_BIN is the misalign binary, $ML_TEST_TMP a scratch directory.
set -u
cli_passed=0 cli_failed=0
pass() { cli_passed=$((cli_passed + 1)); }
fail() { cli_failed=$((cli_failed + 1)); echo "  FAIL: $*" >&2; }
# expect_fail NAME PATTERN CMD...: command must exit nonzero, print one stderr line matching PATTERN, and not crash.
expect_fail() {
    local name=$1 pattern=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$name: exit $rc (want 1 or 2): $err"; return; fi
    if ! grep -qE -- "$pattern" <<<"$err"; then fail "$name: stderr '$err' does not match '$pattern'"; return; fi
    pass
}
cli_summary() { echo "$1: $cli_passed passed, $cli_failed failed"; [ $cli_failed -eq 0 ]; }
