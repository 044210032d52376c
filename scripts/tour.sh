#!/usr/bin/env bash
# The tour: build once, then run every scripts/demo-*.sh headless and report each one.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--bin-dir DIR]

Builds the binaries once (cargo build --release), then runs every scripts/demo-*.sh headless, in
name order, each under a heading, and reports whether each passed and how long it took. A new
demo-*.sh is picked up without any change here.

Options:
  --bin-dir DIR   Use the binaries in DIR instead of building (also: \$IPC_LAB_BIN).
  -h, --help      Print this help.

Exit status: 0 when every demo passed, 1 when one failed, 2 for a usage error.
Environment: IPC_LAB_DEMO_TIMEOUT (seconds a demo may take, default 300), NO_COLOR.
EOF
}

main() {
    local bin_dir="" demo name start rc failed=0 limit=${IPC_LAB_DEMO_TIMEOUT:-300}
    local -a demos=() report=()
    while (($#)); do
        case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --bin-dir)
            (($# >= 2)) || lab_usage_error "--bin-dir needs a directory"
            bin_dir=$2
            shift
            ;;
        --bin-dir=*) bin_dir=${1#*=} ;;
        *) lab_usage_error "unknown option: $1" ;;
        esac
        shift
    done
    lab_init

    local LC_COLLATE=C
    for demo in "$LAB_ROOT"/scripts/demo-*.sh; do
        [[ -f $demo ]] && demos+=("$demo")
    done
    ((${#demos[@]} > 0)) || lab_die "no scripts/demo-*.sh found in $LAB_ROOT"

    # Build once, whatever the demos need; each demo then gets the directory.
    lab_find_bins "$bin_dir"

    for demo in "${demos[@]}"; do
        name=$(basename "$demo")
        lab_heading "$name"
        start=$(lab_now_ms)
        rc=0
        # In the background so that a signal reaches this script at once; the trap then stops it.
        timeout --foreground --kill-after=10 "$limit" bash "$demo" --bin-dir "$LAB_BIN" </dev/null &
        lab_track_pid $!
        wait $! || rc=$?
        if ((rc == 0)); then
            report+=("$(printf '%sok%s   %-24s %6ss' "$LAB__GREEN" "$LAB__RESET" "$name" "$(lab_elapsed "$start")")")
        else
            failed=$((failed + 1))
            ((rc != 124)) || lab_error "$name took longer than ${limit}s and was stopped"
            report+=("$(printf '%sFAIL%s %-24s %6ss  (exit %d)' "$LAB__RED" "$LAB__RESET" "$name" "$(lab_elapsed "$start")" "$rc")")
        fi
    done

    lab_heading "Tour summary"
    printf '%s\n' "${report[@]}"
    if ((failed > 0)); then
        printf '%d of %d demo(s) failed\n' "$failed" "${#demos[@]}"
        exit 1
    fi
    printf 'all %d demo(s) passed\n' "${#demos[@]}"
}

main "$@"
