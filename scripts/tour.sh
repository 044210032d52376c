#!/usr/bin/env bash
# The tour: build once, then run every scripts/demo-*.sh headless and report each one.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--verbose] [--bin-dir DIR] [DEMO...]

Builds the binaries once (cargo build --release, its progress shown), then runs every
scripts/demo-*.sh headless, in name order, or only the DEMOs named (shm or demo-shm.sh), and
prints a line for each: its name, ok or FAIL, and how long it took. What the demos print goes to
a log file whose path is printed; when one fails, the end of its output is shown too. A new
demo-*.sh is picked up without any change here.

Options:
  --verbose       Show what each demo prints here, under a heading, instead of in the log.
  --bin-dir DIR   Use the binaries in DIR instead of building (also: \$IPC_LAB_BIN).
  -h, --help      Print this help.

Exit status: 0 when every demo passed, 1 when one failed, 2 for a usage error.
Environment: IPC_LAB_DEMO_TIMEOUT (seconds a demo may take, default 300), NO_COLOR.
EOF
}

main() {
    local bin_dir="" demo name start rc verbose=0 log="" out took failed=0 limit=${IPC_LAB_DEMO_TIMEOUT:-300}
    local -a demos=() wanted=()
    while (($#)); do
        case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --verbose) verbose=1 ;;
        --bin-dir)
            (($# >= 2)) || lab_usage_error "--bin-dir needs a directory"
            bin_dir=$2
            shift
            ;;
        --bin-dir=*) bin_dir=${1#*=} ;;
        -*) lab_usage_error "unknown option: $1" ;;
        *) wanted+=("$1") ;;
        esac
        shift
    done
    lab_init

    local LC_COLLATE=C
    for demo in "$LAB_ROOT"/scripts/demo-*.sh; do
        [[ -f $demo ]] && demos+=("$demo")
    done
    if ((${#wanted[@]} > 0)); then
        demos=()
        for name in "${wanted[@]}"; do
            name=${name%.sh}
            demo=$LAB_ROOT/scripts/demo-${name#demo-}.sh
            [[ -f $demo ]] || lab_usage_error "no demo $name (scripts/demo-${name#demo-}.sh)"
            demos+=("$demo")
        done
    fi
    ((${#demos[@]} > 0)) || lab_die "no scripts/demo-*.sh found in $LAB_ROOT"

    # Build once, whatever the demos need; each demo then gets the directory.
    lab_find_bins "$bin_dir"
    if ((verbose == 0)); then
        log=$(mktemp --suffix=.log "${TMPDIR:-/tmp}/ipc-lab-tour.XXXXXX")
        lab_say "what the demos print goes to $log (--verbose shows it here)"
    fi

    for demo in "${demos[@]}"; do
        name=$(basename "$demo")
        out=$LAB_WORK/$name.out
        ((verbose)) && lab_heading "$name" || printf '%-24s ' "$name"
        start=${EPOCHREALTIME//[!0-9]/}
        rc=0
        # In the background so that a signal reaches this script at once; the trap then stops it.
        if ((verbose)); then
            timeout --foreground --kill-after=10 "$limit" bash "$demo" --bin-dir "$LAB_BIN" </dev/null &
        else
            timeout --foreground --kill-after=10 "$limit" bash "$demo" --bin-dir "$LAB_BIN" </dev/null >"$out" 2>&1 &
        fi
        lab_track pid $!
        wait $! || rc=$?
        # the time it took in seconds, with one decimal
        took=$(((${EPOCHREALTIME//[!0-9]/} - start) / 100000))
        took=$((took / 10)).$((took % 10))
        ((verbose)) && printf '\n%-24s ' "$name"
        if ((rc == 0)); then
            printf '%sok%s   %6ss\n' "$LAB__GREEN" "$LAB__RESET" "$took"
        else
            failed=$((failed + 1))
            printf '%sFAIL%s %6ss  (exit %d%s)\n' "$LAB__RED" "$LAB__RESET" "$took" "$rc" \
                "$( ((rc != 124)) || echo ": stopped after ${limit}s")"
        fi
        [[ -n $log ]] || continue
        { printf '==> %s: exit %d, %ss\n' "$name" "$rc" "$took"; cat "$out"; echo; } >>"$log"
        if ((rc != 0)); then
            printf '     the end of its output:\n'
            tail -n 20 "$out" | sed 's/^/     | /'
        fi
    done

    echo
    [[ -z $log ]] || lab_say "all the demos printed: $log"
    if ((failed > 0)); then
        printf '%d of %d demo(s) failed\n' "$failed" "${#demos[@]}"
        exit 1
    fi
    printf 'all %d demo(s) passed\n' "${#demos[@]}"
}

main "$@"
