#!/usr/bin/env bash
# scripts/lib.sh: helpers shared by the demo scripts. Source it, do not run it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   lab_init                                        # work directory, traps
#   lab_find_bins "$bin_dir" foo-send foo-recv      # --bin-dir, else $IPC_LAB_BIN, else cargo build
#   lab_spawn "$LAB_WORK/a.out" /dev/null "$LAB_BIN/foo-recv"; pid=$LAB_PID
#   lab_wait_line "$LAB_WORK/a.out" '^ready$' 10 "$pid"  # bounded; the line is in $LAB_LINE
#   lab_wait_exit "$pid" 10; rc=$LAB_RC
#   lab_show recv "$LAB_WORK/a.out"                  # [recv] ...
#   lab_check_lines "recv's output" "$LAB_WORK/a.out" "line 1" "line 2"
#   lab_check_output "recv's stdout" "$LAB_WORK/a.out" "line 1" "line 2"   # whole, in order
#   lab_finish                                       # exit 1 if any check failed
#
#   lab_queue_name /foo-demo; q=$LAB_QUEUE           # POSIX queue of its own, removed on exit
#   lab_spawn_fed "$LAB_WORK/r.out" "$LAB_WORK/r.err" "$LAB_BIN/foo-recv" "$q"   # stdin: lab_feed
#   lab_feed ""; lab_feed_close                      # press Enter, then end its input
#   lab_check_queue_gone "$q"
#
#   lab_spawn_split "$LAB_WORK/r.out" "$LAB_WORK/r.err" /dev/null "$LAB_BIN/foo-read" # stdout apart
#   lab_follow timeline "$LAB_WORK/t.out" "$pid" 10; rc=$LAB_RC   # shown as it comes, then reaped
#   lab_check_path_gone "$LAB_WORK/lab.fifo" "the FIFO"
#
#   lab_wait_state "$pid" T 5                        # stopped (kill -STOP)? its letter: LAB_STATE
#   lab_check_process_gone "$pid" "foo-recv"; lab_untrack_pid "$pid"   # a process not our child
#
#   LAB_STEPS=("the receiver holds" "two senders send")   # a demo's steps, both modes play them all
#   lab_step                       # headless: the next step's caption; with --step, a key first
#   lab_step "$LAB_TMUX_LEFT"      # in a tmux driver: the caption typed into that (idle) pane
#
# Every wait is bounded. On exit, error, Ctrl-C, SIGTERM and SIGHUP the trap stops the children
# started with lab_spawn (and lab_track_pid), kills the private tmux server and removes the System V
# segments registered with lab_track_segment and the POSIX message queues named with
# lab_queue_name (or lab_track_queue) that are still there.
#
# Conventions: functions are named lab_*, globals LAB_*, internals lab__* / LAB__*. A function that
# produces a value stores it in a global (LAB_LINE, LAB_RC, LAB_PID, ...) instead of printing it, so
# that it runs in the script's own shell and a signal is handled at once.

# The globals are read by the scripts that source this file, which shellcheck cannot see from here.
# shellcheck disable=SC2034

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    echo "lib.sh holds helpers for the demo scripts: source it from one (see its header)" >&2
    exit 2
fi

LAB_ROOT=$(CDPATH="" cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_SCRIPT=${LAB_SCRIPT:-$(basename "$0")}
LAB_BIN=""          # the directory holding the binaries (lab_find_bins)
LAB_WORK=""         # a private temporary directory, removed on exit (lab_init)
LAB_PID=""          # the last process started by lab_spawn
LAB_RC=0            # the exit status collected by lab_wait_exit
LAB_LINE=""         # the line found by lab_wait_line / lab_tmux_wait_text
LAB_STATE=""        # a process's state letter, from lab_proc_state / lab_wait_state
LAB_FAILED=0        # how many checks failed
LAB_PIDS=()         # background children to stop on exit
LAB_QUEUE=""        # the POSIX message queue named by lab_queue_name
LAB_FEED_FD=""      # the write end of the pipe to the stdin of lab_spawn_fed's process
LAB__FEEDS=0
LAB__CLEANED=0
LAB__SIGNAL=""        # a signal that came while the exit trap was cleaning up
declare -A LAB__SHOWN=()   # lines of a file already shown by lab_show_new
LAB_STEPS=()        # the demo's steps, a caption each, in the order both modes play them
LAB_STEP=0          # the steps begun so far (lab_step)
LAB_STEP_MODE=0     # 1 with --step: a key before each step
LAB_PACE=""         # --pace, else $IPC_LAB_PACE, else the mode's default (lab__pace)
LAB__PACE_MS=0      # the pace in milliseconds: between typed words; 10 x before a step
LAB__WIDTH=80       # the width the scripts' own text is wrapped at (lab_init)
LAB__KEYS_FD=""     # $IPC_LAB_STEP_KEYS, once opened

# ----------------------------------------------------------------------------------------------
# Output: headings, labels, messages

# lab_color FD: true when output to FD gets colour, as the binaries decide: a non-empty NO_COLOR
# turns it off, a CLICOLOR_FORCE other than 0 turns it on, otherwise a terminal gets it.
lab_color() {
    [[ -z ${NO_COLOR:-} ]] || return 1
    [[ -z ${CLICOLOR_FORCE:-} || ${CLICOLOR_FORCE:-} == 0 ]] || return 0
    [[ -t $1 ]]
}

LAB__BOLD="" LAB__DIM="" LAB__RED="" LAB__GREEN="" LAB__RESET=""
if lab_color 1; then
    LAB__BOLD=$'\e[1m' LAB__DIM=$'\e[2m' LAB__RED=$'\e[31m' LAB__GREEN=$'\e[32m' LAB__RESET=$'\e[0m'
fi
LAB__ERED="" LAB__EYELLOW="" LAB__ERESET=""   # for stderr
if lab_color 2; then
    LAB__ERED=$'\e[31m' LAB__EYELLOW=$'\e[33m' LAB__ERESET=$'\e[0m'
fi

# lab_wrap WIDTH FIRST REST STYLE TEXT...: TEXT as lines of at most WIDTH columns, broken between
# words, the first line starting with FIRST and the others with REST; each line in STYLE (an escape).
lab_wrap() {
    local width=$1 first=$2 rest=$3 style=$4 reset=""
    shift 4
    [[ -z $style ]] || reset=$LAB__RESET
    printf '%s\n' "$*" | awk -v w="$width" -v p="$first" -v r="$rest" -v s="$style" -v e="$reset" '
        { for (i = 1; i <= NF; i++) word[++n] = $i }
        END {
            line = p; k = 0
            for (i = 1; i <= n; i++) {
                if (k && length(line) + 1 + length(word[i]) > w) { print s line e; line = r; k = 0 }
                line = line (k++ ? " " : "") word[i]
            }
            if (k) print s line e
        }'
}

# lab_heading TEXT: a heading on stdout, with a blank line before it.
lab_heading() {
    echo
    lab_wrap "$LAB__WIDTH" "==> " "    " "$LAB__BOLD" "$*"
}

# lab_say TEXT...: an explanatory paragraph for the reader, wrapped at the terminal's width.
lab_say() {
    lab_wrap "$LAB__WIDTH" "" "" "$LAB__DIM" "$*"
}

# lab_cmd TEXT: show a command the way a shell prompt would.
lab_cmd() {
    printf '%s$ %s%s\n' "$LAB__BOLD" "$*" "$LAB__RESET"
}

# lab_warn TEXT / lab_error TEXT: on stderr, prefixed with the script's name.
lab_warn() {
    printf '%s%s: warning: %s%s\n' "$LAB__EYELLOW" "$LAB_SCRIPT" "$*" "$LAB__ERESET" >&2
}
lab_error() {
    printf '%s%s: error: %s%s\n' "$LAB__ERED" "$LAB_SCRIPT" "$*" "$LAB__ERESET" >&2
}

# lab_die TEXT: print an error and exit 1 (the exit trap cleans up).
lab_die() {
    lab_error "$*"
    exit 1
}

# lab_usage_error TEXT: a usage error, exit 2.
lab_usage_error() {
    lab_error "$*"
    printf 'Try %s --help\n' "$LAB_SCRIPT" >&2
    exit 2
}

# lab_label LABEL: a filter that prefixes every line of its input with [LABEL]; a last line with
# no newline (a prompt) is shown too.
lab_label() {
    local line
    while IFS= read -r line || [[ -n $line ]]; do
        printf '[%s] %s\n' "$1" "$line"
    done
}

# lab_show LABEL FILE: show FILE, each line labelled.
lab_show() {
    [[ -s $2 ]] || return 0
    lab_label "$1" <"$2"
}

# lab_show_new LABEL FILE [--all]: show the complete lines of FILE not shown before (by this
# function); with --all also a last line without a newline (use it once the writer has exited).
lab_show_new() {
    local label=$1 file=$2 all=${3:-} done=${LAB__SHOWN[$2]:-0} total
    [[ -s $file ]] || return 0
    total=$(wc -l <"$file")
    if [[ $all == --all && -n $(tail -c 1 "$file") ]]; then
        total=$((total + 1))
    fi
    if ((total > done)); then
        sed -n "$((done + 1)),${total}p" "$file" | lab_label "$label"
    fi
    LAB__SHOWN[$file]=$total
}

# ----------------------------------------------------------------------------------------------
# Checks: each prints one line, ok or FAIL; lab_finish exits 1 when any failed.

lab_pass() {
    printf '%sok%s   %s\n' "$LAB__GREEN" "$LAB__RESET" "$*"
}
lab_fail() {
    printf '%sFAIL%s %s\n' "$LAB__RED" "$LAB__RESET" "$*"
    LAB_FAILED=$((LAB_FAILED + 1))
}

# lab_check_lines WHAT FILE LINE...: every LINE must be a whole line of FILE (compared exactly,
# after trailing blanks are removed from both). Names each missing line; returns 1 if any is.
lab_check_lines() {
    local what=$1 file=$2 line want missing=0
    shift 2
    for line in "$@"; do
        want=${line%"${line##*[![:space:]]}"}
        if ! sed 's/[[:space:]]*$//' "$file" 2>/dev/null | grep -qxF -- "$want"; then
            lab_fail "$what lacks the line: $want"
            missing=1
        fi
    done
    if ((missing == 0)); then
        lab_pass "$what has the expected $# line(s)"
    fi
    return "$missing"
}

# lab_check_output WHAT FILE LINE...: FILE must be exactly the LINEs, in this order, nothing before,
# between or after (blanks at line ends, empty lines at the end and colour escapes are ignored).
# Shows both when they differ.
lab_check_output() {
    local what=$1 file=$2 want got
    shift 2
    want=$(printf '%s\n' "$@" | sed 's/[[:space:]]*$//')
    got=$(lab_plain 2>/dev/null <"$file" | sed 's/[[:space:]]*$//') || got=""
    if [[ $got == "$want" ]]; then
        lab_pass "$what is exactly the expected $# line(s), in order"
        return 0
    fi
    lab_fail "$what is not exactly the expected $# line(s), in order:"
    printf '       expected: %s\n' "$@"
    if [[ -z $got ]]; then
        printf '       got:      (nothing)\n'
    else
        printf '%s\n' "$got" | sed 's/^/       got:      /'
    fi
    return 1
}

# lab_plain: a filter that removes colour escapes (CLICOLOR_FORCE colours files too).
lab_plain() {
    sed 's/\x1b\[[0-9;]*m//g'
}

# lab_check_status WHAT STATUS [EXPECTED]: an exit status (EXPECTED defaults to 0).
lab_check_status() {
    local what=$1 got=$2 want=${3:-0}
    if [[ $got == "$want" ]]; then
        lab_pass "$what exited with status $got"
    else
        lab_fail "$what exited with status $got, expected $want"
        return 1
    fi
}

# lab_finish: the summary line; exits 1 if a check failed, else 0. A run that played fewer
# steps than the demo lists (LAB_STEPS), or more, fails too.
lab_finish() {
    local played
    played=$(lab__steps_played)
    if ((LAB_FAILED == 0 && played != ${#LAB_STEPS[@]})); then
        lab_fail "this run played $played of the demo's ${#LAB_STEPS[@]} steps (LAB_STEPS)"
    fi
    if ((LAB_FAILED > 0)); then
        printf '\n%s%s: %d check(s) failed%s\n' "$LAB__RED" "$LAB_SCRIPT" "$LAB_FAILED" "$LAB__RESET"
        exit 1
    fi
    printf '\n%s%s: all checks passed%s\n' "$LAB__GREEN" "$LAB_SCRIPT" "$LAB__RESET"
    exit 0
}

# ----------------------------------------------------------------------------------------------
# The binaries

# lab_find_bins DIR NAME...: set LAB_BIN to the directory holding the binaries NAME...
# DIR (from --bin-dir) wins, then $IPC_LAB_BIN; with neither, build once with cargo from the project
# root and use its target/release. Exports IPC_LAB_BIN so that scripts started from here reuse it.
lab_find_bins() {
    local dir=${1:-} from="--bin-dir" name target
    shift
    if [[ -z $dir && -n ${IPC_LAB_BIN:-} ]]; then
        dir=$IPC_LAB_BIN from="IPC_LAB_BIN"
    fi
    if [[ -z $dir ]]; then
        command -v cargo >/dev/null ||
            lab_die "cargo not found: install Rust with rustup (https://rustup.rs), or pass --bin-dir DIR"
        lab_say "building the binaries: cargo build --release --bins (once; cargo shows its progress)"
        (cd "$LAB_ROOT" && cargo build --release --bins) ||
            lab_die "cargo build --release failed (see above)"
        target=${CARGO_TARGET_DIR:-target}
        [[ $target == /* ]] || target=$LAB_ROOT/$target
        dir=$target/release from="the build directory"
    fi
    [[ -d $dir ]] ||
        lab_die "$from $dir: no such directory (it should hold the binaries, e.g. target/release)"
    dir=$(CDPATH="" cd "$dir" && pwd)
    for name in "$@"; do
        [[ -x $dir/$name ]] ||
            lab_die "$from $dir: no $name there (build it with cargo build --release, or name the right directory)"
    done
    LAB_BIN=$dir
    export IPC_LAB_BIN=$dir
}

# ----------------------------------------------------------------------------------------------
# Processes: start, wait (bounded), stop

# lab_track_pid PID: stop PID on exit if it still runs (from a subshell too: the tmux driver).
lab_track_pid() {
    LAB_PIDS+=("$1")
    [[ $BASHPID == "$$" || -z $LAB_WORK ]] || echo "$1" >>"$LAB_WORK/tracked.pids"
}

# lab_spawn OUT IN CMD...: start CMD in the background, stdin from IN, stdout and stderr to OUT
# (one file, so that their order is kept). Its pid is in LAB_PID; it is stopped on exit.
lab_spawn() {
    local out=$1 in=$2
    shift 2
    "$@" <"$in" >"$out" 2>&1 &
    LAB_PID=$!
    lab_track_pid "$LAB_PID"
}

# lab_spawn_split OUT ERR IN CMD...: as lab_spawn, but stdout to OUT and stderr to ERR (apart, so
# that stdout can be checked whole while stderr holds notes or narration).
lab_spawn_split() {
    local out=$1 err=$2 in=$3
    shift 3
    "$@" <"$in" >"$out" 2>"$err" &
    LAB_PID=$!
    lab_track_pid "$LAB_PID"
}

# lab_spawn_fed OUT ERR CMD...: start CMD in the background with stdout to OUT and stderr to ERR
# (apart, so that stdout can be checked whole) and stdin from a pipe that the script writes to
# later with lab_feed, as a person types into a terminal. Its pid is in LAB_PID; it is stopped on
# exit. The pipe's write end stays open here (fd LAB_FEED_FD) until lab_feed_close or the next
# lab_spawn_fed; processes started meanwhile inherit it, so CMD sees the end of its input only once
# they have ended too.
lab_spawn_fed() {
    local out=$1 err=$2 fifo rw
    shift 2
    lab_feed_close
    LAB__FEEDS=$((LAB__FEEDS + 1))
    fifo=$LAB_WORK/feed.$LAB__FEEDS
    mkfifo "$fifo"
    # Open for reading and writing, the pipe has both ends here: neither open below waits for
    # the other side, whichever comes first. CMD gets the read end only.
    exec {rw}<>"$fifo"
    "$@" <"$fifo" >"$out" 2>"$err" {rw}<&- &
    LAB_PID=$!
    lab_track_pid "$LAB_PID"
    exec {LAB_FEED_FD}>"$fifo"
    exec {rw}<&-
}

# lab_feed LINE: write LINE and a newline to the stdin of lab_spawn_fed's process (lab_feed ""
# presses Enter). Fails, instead of killing the script with SIGPIPE, when the reader is gone.
lab_feed() {
    [[ -n $LAB_FEED_FD ]] || {
        lab_error "lab_feed: no process started with lab_spawn_fed has its input open"
        return 1
    }
    (printf '%s\n' "$1" >&"$LAB_FEED_FD") 2>/dev/null
}

# lab_feed_close: close that pipe: its reader sees the end of input (Ctrl-D).
lab_feed_close() {
    [[ -n $LAB_FEED_FD ]] || return 0
    exec {LAB_FEED_FD}>&-
    LAB_FEED_FD=""
}

# lab_alive PID: true while PID runs (an exited child that is not reaped yet counts as gone).
lab_alive() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# lab_wait_gone PID SECS: wait up to SECS (a whole number) for PID to end; false if it still runs.
lab_wait_gone() {
    local tries=$(($2 * 20))
    while lab_alive "$1"; do
        ((tries-- > 0)) || return 1
        sleep 0.05
    done
}

# lab_descendants PID: print the pids of PID's children, grandchildren, ... (deepest first).
lab_descendants() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do
        lab_descendants "$child"
        echo "$child"
    done
}

# lab_stop PID: SIGTERM to PID and its descendants (a wrapper's children too), up to 2 s to end,
# then SIGKILL; reaps PID when it is our child.
lab_stop() {
    local pid
    local -a all
    mapfile -t all < <(lab_descendants "$1")
    all+=("$1")
    kill -TERM "${all[@]}" 2>/dev/null || true
    # a stopped process keeps SIGTERM pending until it runs again: let it run, to end at once
    kill -CONT "${all[@]}" 2>/dev/null || true
    for pid in "${all[@]}"; do
        if ! lab_wait_gone "$pid" 2; then
            kill -KILL "$pid" 2>/dev/null || true
            lab_wait_gone "$pid" 1 || true
        fi
    done
    wait "$1" 2>/dev/null || true
}

# lab_wait_exit PID SECS [WHAT]: wait up to SECS for the child PID to exit; its status is in LAB_RC.
# If it is still running then, it is stopped (LAB_RC is then 124) and the function returns 1.
lab_wait_exit() {
    local pid=$1 secs=$2 what=${3:-process $1} i
    LAB_RC=0
    if ! lab_wait_gone "$pid" "$secs"; then
        lab_error "$what still runs after ${secs}s: stopping it"
        lab_stop "$pid"
        LAB_RC=124
        return 1
    fi
    wait "$pid" 2>/dev/null || LAB_RC=$?
    for i in "${!LAB_PIDS[@]}"; do
        [[ ${LAB_PIDS[i]} != "$pid" ]] || unset 'LAB_PIDS[i]'
    done
}

# lab_wait_line FILE REGEX SECS [PID]: wait up to SECS for a line of FILE matching the extended
# REGEX; the first such line is in LAB_LINE. Fails early when PID (the writer) has ended without it.
lab_wait_line() {
    local file=$1 re=$2 tries=$(($3 * 20)) pid=${4:-}
    LAB_LINE=""
    while :; do
        if [[ -f $file ]] && LAB_LINE=$(grep -E -m 1 -- "$re" "$file"); then
            return 0
        fi
        if [[ -n $pid ]] && ! lab_alive "$pid"; then
            # one last look: the line may have been written just before the exit
            LAB_LINE=$(grep -E -m 1 -- "$re" "$file" 2>/dev/null) && return 0
            lab_error "the process ended before printing a line like /$re/"
            return 1
        fi
        if ((tries-- <= 0)); then
            lab_error "no line like /$re/ after $3s"
            return 1
        fi
        sleep 0.05
    done
}

# lab_follow LABEL FILE PID SECS [WHAT]: show FILE's lines, labelled (lab_show_new), as the child
# PID writes them, until it exits; then its exit status is in LAB_RC, as with lab_wait_exit. If it
# still runs after SECS (a whole number) it is stopped (LAB_RC 124) and the function returns 1.
lab_follow() {
    local label=$1 file=$2 pid=$3 secs=$4 what=${5:-process $3} tries=$(($4 * 10)) rc=0
    while lab_alive "$pid" && ((tries-- > 0)); do
        lab_show_new "$label" "$file"
        sleep 0.1
    done
    lab_wait_exit "$pid" 1 "$what" || rc=1
    lab_show_new "$label" "$file" --all
    return "$rc"
}

# lab_check_path_gone PATH WHAT: the check that PATH (a FIFO, a socket, a file a program made and
# should remove) no longer exists; waits up to 2 s, since a program removes it as it exits.
lab_check_path_gone() {
    local tries=40
    while [[ -e $1 || -L $1 ]]; do
        if ((tries-- <= 0)); then
            lab_fail "$2 $1 is still there"
            return 1
        fi
        sleep 0.05
    done
    lab_pass "$2 $1 is gone"
}

# lab_proc_state PID: PID's state letter in LAB_STATE, as ps shows it first in STAT: R running,
# S asleep, D asleep and not to be woken, T stopped by a signal, t stopped by a debugger, Z ended but
# not reaped yet. False (LAB_STATE empty) when there is no such process.
lab_proc_state() {
    local stat
    LAB_STATE=""
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    LAB_STATE=${stat:0:1}
}

# lab_wait_state PID LETTERS SECS: wait up to SECS (a whole number) for PID's state to be one of
# LETTERS: "T" waits for it to be stopped, "RSD" for it to run again. The state last seen is in
# LAB_STATE; false when the time runs out or PID ends first.
lab_wait_state() {
    local tries=$(($3 * 20))
    while :; do
        lab_proc_state "$1" || return 1
        [[ $LAB_STATE == Z ]] && return 1
        [[ $2 == *"$LAB_STATE"* ]] && return 0
        ((tries-- > 0)) || return 1
        sleep 0.05
    done
}

# lab_untrack_pid PID: forget PID (lab_track_pid, lab_spawn): it has ended, and the clean-up must
# not signal another process that gets its number later.
lab_untrack_pid() {
    local i
    for i in "${!LAB_PIDS[@]}"; do
        [[ ${LAB_PIDS[i]} != "$1" ]] || unset 'LAB_PIDS[i]'
    done
    [[ ! -s $LAB_WORK/tracked.pids ]] || sed -i "/^$1\$/d" "$LAB_WORK/tracked.pids"
}

# lab_check_process_gone PID WHAT: the check that process PID (WHAT names it) no longer runs; waits
# up to 2 s, since it may be ending (an ended process that is not reaped yet counts as gone).
lab_check_process_gone() {
    if lab_wait_gone "$1" 2; then
        lab_pass "$2 (PID $1) is no longer running"
        return 0
    fi
    lab_proc_state "$1" || true
    lab_fail "$2 (PID $1) still runs (state ${LAB_STATE:-?}: ps -o pid,stat,args -p $1)"
    return 1
}

# lab_now_ms: milliseconds since the epoch (for timings).
lab_now_ms() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then
        local us=${EPOCHREALTIME//[!0-9]/}
        echo $((us / 1000))
    else
        date +%s%3N
    fi
}

# lab_elapsed START_MS: seconds since START_MS, with one decimal.
lab_elapsed() {
    local ms=$(($(lab_now_ms) - $1))
    printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# ----------------------------------------------------------------------------------------------
# System V shared memory segments

# lab_segment_cpid ID: print the pid that created segment ID; false if the kernel has no such id.
lab_segment_cpid() {
    awk -v id="$1" 'NR > 1 && $2 == id { print $5; found = 1 } END { exit !found }' /proc/sysvipc/shm
}

# lab_segment_exists ID: true while /proc/sysvipc/shm lists ID.
lab_segment_exists() {
    lab_segment_cpid "$1" >/dev/null
}

# lab_track_segment ID [CPID]: remove segment ID on exit if it is still there (and still the one
# CPID created: by default the creator at the time of this call).
lab_track_segment() {
    local cpid=${2:-}
    [[ -n $cpid ]] || cpid=$(lab_segment_cpid "$1") || cpid=""
    [[ -n $LAB_WORK ]] && echo "$1 $cpid" >>"$LAB_WORK/segments"
}

# lab_check_segment_gone ID: the check that the kernel no longer lists segment ID (waits up to 2 s,
# since the last detach may come a moment after the output).
lab_check_segment_gone() {
    local tries=40
    while lab_segment_exists "$1"; do
        if ((tries-- <= 0)); then
            lab_fail "segment $1 is still listed in /proc/sysvipc/shm (ipcs -m)"
            return 1
        fi
        sleep 0.05
    done
    lab_pass "segment $1 is gone from /proc/sysvipc/shm"
}

# ----------------------------------------------------------------------------------------------
# POSIX message queues, through the project's mq-recv (in LAB_BIN, from lab_find_bins): nothing
# here needs the mqueue file system mounted (mount -t mqueue none /dev/mqueue shows them as files).

# lab_queue_exists NAME: true while queue NAME exists, false (1) once it does not (ENOENT).
# Any other answer (no mq-recv, no permission) is status 2, with a message.
lab_queue_exists() {
    local err
    if [[ -z $LAB_BIN || ! -x $LAB_BIN/mq-recv ]]; then
        lab_error "cannot look for queue $1: no mq-recv in ${LAB_BIN:-(no binary directory yet)}"
        return 2
    fi
    # --attr opens an existing queue only, and receives nothing
    if err=$("$LAB_BIN/mq-recv" --attr --color never "$1" 2>&1 >/dev/null); then
        return 0
    fi
    [[ $err != *"(ENOENT)"* ]] || return 1
    lab_error "cannot tell whether queue $1 exists: ${err%%$'\n'*}"
    return 2
}

# lab_track_queue NAME: remove queue NAME on exit if it is still there.
lab_track_queue() {
    [[ -n $LAB_WORK ]] && echo "$1" >>"$LAB_WORK/queues"
}

# lab_queue_name PREFIX: a queue name of this run's own in LAB_QUEUE, PREFIX-PID (PREFIX starts
# with /), or PREFIX-PID-N should a queue of that name exist already (left by a killed run whose
# pid came round again); tracked with lab_track_queue. The queue itself is not made here.
lab_queue_name() {
    local name=$1-$$ tries=5 rc
    while :; do
        rc=0
        lab_queue_exists "$name" || rc=$?
        ((rc != 2)) || lab_die "cannot choose a queue name (see above)"
        ((rc != 0)) || lab_warn "queue $name exists already (not this run's): choosing another name"
        ((rc != 1)) || break
        ((tries-- > 0)) || lab_die "queues $1-$$-N all exist: remove them (ls /dev/mqueue, once mounted)"
        name=$1-$$-$RANDOM
    done
    LAB_QUEUE=$name
    lab_track_queue "$name"
}

# lab_queue_remove NAME: remove queue NAME with mq-recv --unlink (which removes its queue on an
# error too: here a non-blocking receive from an empty queue). True when it is gone afterwards.
lab_queue_remove() {
    local rc=0
    "$LAB_BIN/mq-recv" --unlink --nonblock --count 1 --color never "$1" >/dev/null 2>&1 || true
    lab_queue_exists "$1" 2>/dev/null || rc=$?
    ((rc == 1))
}

# lab_check_queue_gone NAME: the check that queue NAME no longer exists (waits up to 2 s, since
# a receiver removes its queue just before it exits).
lab_check_queue_gone() {
    local tries=40 rc
    while :; do
        rc=0
        lab_queue_exists "$1" || rc=$?
        case $rc in
        1)
            lab_pass "queue $1 is gone (mq-recv --attr $1: ENOENT)"
            return 0
            ;;
        2)
            lab_fail "cannot tell whether queue $1 is gone (see above)"
            return 1
            ;;
        esac
        if ((tries-- <= 0)); then
            lab_fail "queue $1 still exists (mq-recv --attr $1 opens it)"
            return 1
        fi
        sleep 0.05
    done
}

# lab__cleanup_queues: remove the tracked queues that are still there.
lab__cleanup_queues() {
    local name tries rc
    [[ -n $LAB_WORK && -s $LAB_WORK/queues ]] || return 0
    while read -r name; do
        # a receiver that was just stopped (or hung up, with its tmux pane) may still be removing it
        tries=40
        while :; do
            rc=0
            lab_queue_exists "$name" 2>/dev/null || rc=$?
            ((rc == 0 && tries-- > 0)) || break
            sleep 0.05
        done
        if ((rc == 2)); then
            lab_warn "cannot tell whether queue $name is left behind: if it is, remove it with mq-recv --unlink -n $name"
        elif ((rc == 0)); then
            if lab_queue_remove "$name"; then
                lab_warn "removed message queue $name, left behind"
            else
                lab_warn "could not remove message queue $name: try mq-recv --unlink -n $name"
            fi
        fi
    done <"$LAB_WORK/queues"
}

# ----------------------------------------------------------------------------------------------
# Set-up and clean-up

# lab_demo_start PROGRAM... -- ARGS...: what every demo does first. Reads the options every demo
# takes from ARGS (--tmux, --detached, --pace SECS, --step, --bin-dir DIR, -h/--help, which calls
# the script's own usage function), sets up (lab_init), falls back to headless when tmux is
# missing, and finds the PROGRAMs (lab_find_bins). LAB_DEMO_TMUX is then 1 for the tmux mode.
LAB_DEMO_TMUX=0
lab_demo_start() {
    local -a programs=()
    local bin_dir="" pace="" from=--pace
    while (($#)) && [[ $1 != -- ]]; do
        programs+=("$1")
        shift
    done
    (($#)) && shift
    LAB_DEMO_TMUX=0
    while (($#)); do
        case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --tmux) LAB_DEMO_TMUX=1 ;;
        --detached) export IPC_LAB_DETACHED=1 ;;
        --step) LAB_STEP_MODE=1 ;;
        --pace | --bin-dir)
            (($# >= 2)) || lab_usage_error "$1 needs a value"
            if [[ $1 == --pace ]]; then pace=$2; else bin_dir=$2; fi
            shift
            ;;
        --pace=*) pace=${1#*=} ;;
        --bin-dir=*) bin_dir=${1#*=} ;;
        *) lab_usage_error "unknown option: $1" ;;
        esac
        shift
    done
    if [[ -z $pace && -n ${IPC_LAB_PACE:-} ]]; then
        pace=$IPC_LAB_PACE from=IPC_LAB_PACE
    fi
    [[ -z $pace ]] || lab__pace "$pace" ||
        lab_usage_error "$from $pace: the pace must be a positive number of seconds, such as 0.3"
    if ((LAB_STEP_MODE)) && [[ -z ${IPC_LAB_STEP_KEYS:-} ]] && ! { : </dev/tty; } 2>/dev/null; then
        lab_usage_error "--step waits for a key before each step, read from your terminal (/dev/tty), and this run has none: run it from a terminal"
    fi
    lab_init
    if ((LAB_DEMO_TMUX)) && ! lab_tmux_available; then
        lab_tmux_missing
        LAB_DEMO_TMUX=0
    fi
    if [[ -z $pace ]] && ((LAB_DEMO_TMUX)); then
        if lab_tmux_interactive; then lab__pace 0.3; else lab__pace 0.05; fi
    fi
    lab_find_bins "$bin_dir" "${programs[@]}"
    if ((LAB_DEMO_TMUX)); then
        lab_say "pace: $LAB_PACE s between typed words, $(lab__secs $((LAB__PACE_MS * 10))) s to read before each step (--pace SECS changes both)"
    elif [[ -n $LAB_PACE ]]; then
        lab_say "pace: $(lab__secs $((LAB__PACE_MS * 10))) s to read before each step (--pace $LAB_PACE)"
    fi
}

# lab_options_help: the lines of a demo's --help on the options every demo takes.
lab_options_help() {
    # inside tmux, nothing says Ctrl-b d: it would detach the user's own session
    local leave=" (Ctrl-b d leaves it early)" in="                  "
    [[ -z ${TMUX:-} ]] || leave=""
    cat <<EOF
$(lab_wrap 98 "$in" "$in" "" "From a terminal the panes are shown as they are typed into: inside tmux in \
a new window of your session (your prefix key, then l, goes back to the window you came from), \
outside tmux in a session of the demo's own$leave. The window or session closes when the demo \
ends. Without a terminal the session runs detached, then each pane's screen is printed and checked.")
  --detached      With --tmux: do not attach, even from a terminal (as in CI).
  --pace SECS     SECS (a positive number) between two words typed into a pane, and 10 x SECS
                  to read before each step. Default: 0.3 with --tmux from a terminal, 0.05
                  detached; headless, no pause unless this is given. Also \$IPC_LAB_PACE (the
                  option wins).
  --step          Before each step, show its caption and wait for a key from your terminal:
                  Enter or space plays the step, q ends the demo there (what it started is
                  stopped and removed, as on any exit; status 0). Needs a terminal.
  --bin-dir DIR   Take the programs from DIR. Default: \$IPC_LAB_BIN, else build them once
                  with cargo build --release and use target/release.
  -h, --help      Print this help.

Environment: IPC_LAB_BIN (as --bin-dir), IPC_LAB_PACE (as --pace), NO_COLOR (no colours),
COLUMNS (the width the scripts' text is wrapped at, else the terminal's, else 80),
IPC_LAB_STEP_KEYS (for tests: a file or FIFO --step reads its keys from instead of the
terminal, a line per key: q quits, any other line plays the step).
EOF
}

# lab_init: make the private work directory and install the traps.
lab_init() {
    LAB_WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipc-lab.XXXXXX")
    # the width the scripts' own text is wrapped at: COLUMNS, else the terminal's, else 80
    LAB__WIDTH=${COLUMNS:-}
    if ! [[ $LAB__WIDTH =~ ^[0-9]+$ ]] && [[ -t 1 ]]; then
        LAB__WIDTH=$(tput cols 2>/dev/null) || LAB__WIDTH=""
    fi
    [[ $LAB__WIDTH =~ ^[0-9]+$ ]] && ((LAB__WIDTH >= 20)) || LAB__WIDTH=80
    : >"$LAB_WORK/segments"
    trap lab__on_exit EXIT
    trap 'lab__on_signal INT 130' INT
    trap 'lab__on_signal TERM 143' TERM
    trap 'lab__on_signal HUP 129' HUP
}

# lab_cleanup: stop the children, kill the tmux server, remove the segments and queues left behind
# and the work directory. Safe to call more than once.
lab_cleanup() {
    local pid id cpid now tries
    ((LAB__CLEANED == 0)) || return 0
    LAB__CLEANED=1
    if [[ -s $LAB_WORK/tracked.pids ]]; then
        while read -r pid; do LAB_PIDS+=("$pid"); done <"$LAB_WORK/tracked.pids"
    fi
    for pid in "${LAB_PIDS[@]}"; do
        if lab_alive "$pid"; then
            lab_stop "$pid"
        fi
    done
    lab_tmux_kill
    if [[ -n $LAB_WORK && -s $LAB_WORK/segments ]]; then
        while read -r id cpid; do
            # a program that was just stopped may still be removing its own segment
            tries=40
            while now=$(lab_segment_cpid "$id") && ((tries-- > 0)); do
                sleep 0.05
            done
            if now=$(lab_segment_cpid "$id") && [[ -z $cpid || $now == "$cpid" ]]; then
                if ipcrm -m "$id" 2>/dev/null; then
                    lab_warn "removed shared memory segment $id, left behind (ipcrm -m $id)"
                else
                    lab_warn "could not remove shared memory segment $id: try ipcrm -m $id"
                fi
            fi
        done <"$LAB_WORK/segments"
    fi
    lab__cleanup_queues
    lab_feed_close
    [[ -z $LAB_WORK ]] || rm -rf "$LAB_WORK"
}

lab__on_exit() {
    local rc=$?
    lab_cleanup
    if [[ -n $LAB__SIGNAL ]]; then
        # a signal came during the clean-up, which went on to its end: now end by that signal
        trap - EXIT INT TERM HUP
        kill -s "$LAB__SIGNAL" "$$"
    fi
    exit "$rc"
}

# A termination signal: clean up, then end by the same signal so that the caller sees it.
lab__on_signal() {
    trap '' INT TERM HUP
    if ((LAB__CLEANED)); then
        # the exit trap is cleaning up: let it finish (lab__on_exit then ends by the signal)
        LAB__SIGNAL=$1
        return 0
    fi
    echo >&2
    lab_warn "interrupted by SIG$1: cleaning up"
    lab_cleanup
    trap - EXIT INT TERM HUP
    kill -s "$1" "$$"
    exit "$2"
}

# ----------------------------------------------------------------------------------------------
# Pace and steps. A demo lists its steps in LAB_STEPS, a caption each; both modes call lab_step
# at the start of each, in the same order, and lab_finish checks that all were played.

# lab__pace SECS: set the pace (LAB_PACE, LAB__PACE_MS); false unless SECS is a positive number.
lab__pace() {
    local int frac
    [[ $1 == *[1-9]* && $1 =~ ^([0-9]{0,6})(\.([0-9]*))?$ && -n ${BASH_REMATCH[1]}${BASH_REMATCH[3]} ]] ||
        return 1
    int=${BASH_REMATCH[1]:-0} frac=${BASH_REMATCH[3]}000
    LAB__PACE_MS=$((10#$int * 1000 + 10#${frac:0:3}))
    LAB_PACE=$1
}

# lab__secs MS: MS milliseconds in seconds, as short as exact (3, 0.5, 0.05).
lab__secs() {
    local s
    s=$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))
    while [[ $s == *.*0 ]]; do s=${s%0}; done
    echo "${s%.}"
}

# lab_pause [N]: a pause of N (default 1) times the pace, the time between two typed words.
lab_pause() {
    local ms=$((${1:-1} * LAB__PACE_MS))
    ((ms == 0)) || sleep "$(lab__secs "$ms")"
}

# lab_look: a pause to read what just came (10 times the pace; none headless unless --pace).
lab_look() {
    lab_pause 10
}

# lab_step [PANE]: begin the demo's next step (LAB_STEPS): after a pause to read what the last
# one showed (not with --step), its caption: headless as "# ..." lines, in a tmux driver typed
# into PANE, at its shell's prompt, as comment lines; then, with --step, a key. q ends the demo.
lab_step() {
    local caption=${LAB_STEPS[LAB_STEP]:-}
    [[ -n $caption ]] || lab_die "step $((LAB_STEP + 1)) is not listed in LAB_STEPS"
    LAB_STEP=$((LAB_STEP + 1))
    echo "$LAB_STEP" >"$LAB_WORK/step"
    ((LAB_STEP == 1 || LAB_STEP_MODE)) || lab_look
    lab_caption "$caption" "${1:-}"
    ((LAB_STEP_MODE)) || return 0
    # headless, the caption is just above; typed into a pane, it may be out of sight
    lab__step_key "step $LAB_STEP of ${#LAB_STEPS[@]}${1:+: $caption}"
    [[ $LAB__KEY != q ]] || lab_quit
}

# lab_step_skip N: count N steps this run cannot play (with one CPU, say) as played.
lab_step_skip() {
    LAB_STEP=$((LAB_STEP + $1))
    echo "$LAB_STEP" >"$LAB_WORK/step"
}

# lab__steps_played: how many steps were begun (by the tmux driver too, in its subshell).
lab__steps_played() {
    if [[ -s $LAB_WORK/step ]]; then cat "$LAB_WORK/step"; else echo 0; fi
}

# lab_caption TEXT [PANE]: TEXT wrapped as "# ..." comment lines: printed, or typed into PANE (it
# must be at its shell's prompt: a running program would take them as input).
lab_caption() {
    local text=$1 pane=${2:-} width line
    if [[ -z $pane ]]; then
        lab_wrap "$LAB__WIDTH" "# " "# " "$LAB__BOLD" "$text"
        return 0
    fi
    if lab_tmux_running "$pane"; then
        lab_error "no caption typed into the tmux pane $pane: a command runs there ($text)"
        return 1
    fi
    width=$(lab_tmux display-message -p -t "$pane" '#{pane_width}') || return 1
    width=$((width - ${#LAB__TMUX_PROMPT[$pane]} - 1))
    while IFS= read -r line; do
        # The shell's prompt after a comment line adds a line to the pane's status file, as a
        # command's end does: wait for it, or a busy shell would add it later, and the command
        # typed next would seem to have ended at once (lab_tmux_wait_done).
        lab_tmux_mark "$pane"
        lab_tmux send-keys -t "$pane" -l -- "$line"
        lab_tmux send-keys -t "$pane" Enter
        lab_tmux_wait_done "$pane" 10 || return 1
        lab_pause
    done < <(lab_wrap "$((width < 20 ? 20 : width))" "# " "# " "" "$text")
}

LAB__KEY=""        # the key lab__step_key read: go or q
LAB__STEP_PANE=""  # with --step when attached: the pane that shows the prompt and reads the key
LAB__STEP_IN=""    # the FIFOs to and from that pane, opened by the driver
LAB__STEP_OUT=""

# lab__step_key TEXT: show TEXT and wait for Enter or space (LAB__KEY=go) or q (LAB__KEY=q, also
# at the end of the input), read from IPC_LAB_STEP_KEYS (a line per key, for tests), else the
# step pane (attached), else the terminal.
lab__step_key() {
    local key=x hint="[Enter or space: go on, q: quit]" width
    if [[ -n ${IPC_LAB_STEP_KEYS:-} ]]; then
        [[ -n $LAB__KEYS_FD ]] || exec {LAB__KEYS_FD}<"$IPC_LAB_STEP_KEYS"
        printf '%s %s\n' "$1" "$hint" >&2
        IFS= read -r key <&"$LAB__KEYS_FD" || key=q
    elif [[ -n $LAB__STEP_PANE ]]; then
        if [[ -z $LAB__STEP_IN ]]; then
            exec {LAB__STEP_IN}<>"$LAB_WORK/step.in" {LAB__STEP_OUT}<>"$LAB_WORK/step.out"
        fi
        width=$(lab_tmux display-message -p -t "$LAB__STEP_PANE" '#{pane_width}') || width=80
        lab_wrap "$width" "" "" "" "$1 $hint" | paste -sd $'\037' >&"$LAB__STEP_IN"
        # the pane writes go or q; should it be gone, the demo ends
        until read -r -t 1 -u "$LAB__STEP_OUT" key; do
            lab_tmux display-message -p -t "$LAB__STEP_PANE" '#{pane_id}' >/dev/null 2>&1 || key=q
            [[ $key != q ]] || break
        done
    else
        lab_wrap "$LAB__WIDTH" "" "" "$LAB__BOLD" "$1 $hint" >/dev/tty
        while [[ $key != "" && $key != " " && $key != [qQ] ]]; do
            IFS= read -rsn1 key </dev/tty || key=q
        done
    fi
    LAB__KEY=go
    [[ $key != [qQ] ]] || LAB__KEY=q
}

# The step pane's program: for each prompt it is sent ($1, the unit separator between lines),
# show it, wait for Enter, space or q and answer go or q ($2).
# shellcheck disable=SC2016 # expanded by the pane's bash
LAB__STEP_LOOP='while IFS= read -r text <"$1"; do
    printf "\033[H\033[2J"; printf "%s\n" "$text" | tr "\037" "\n"
    key=x
    while [[ $key != "" && $key != " " && $key != [qQ] ]]; do IFS= read -rsn1 key || key=q; done
    if [[ $key == [qQ] ]]; then echo q; else echo go; fi >"$2"
    printf "\033[H\033[2J(playing the step)"
done'

# lab_quit: q was pressed: end the demo; the exit trap stops and removes what it started.
lab_quit() {
    : >"$LAB_WORK/quit"
    if [[ $BASHPID != "$$" ]]; then
        # the tmux driver, in the background while the session is attached: lab_tmux_play ends it
        lab_tmux detach-client -s "$LAB_TMUX_SESSION" >/dev/null 2>&1 || true
        exit 0
    fi
    lab__quit_exit
}

lab__quit_exit() {
    echo
    lab_say "$LAB_SCRIPT: ended with q at step $(lab__steps_played) of ${#LAB_STEPS[@]}: what it started is stopped and removed"
    exit $((LAB_FAILED > 0 ? 1 : 0))
}

# ----------------------------------------------------------------------------------------------
# tmux: one window of two panes, left and right (or one above the other), each running a plain
# interactive bash with a short prompt and the binaries first on PATH. Commands are typed with
# send-keys at the pace; waits read the screen with capture-pane, and a pane's shell records the
# exit status of each command in a file. The window is, by LAB_TMUX_MODE:
#   detached  without a terminal (or --detached): a private server (its own socket, no user
#             configuration), its screens printed at the end;
#   attach    from a terminal outside tmux: the same server, attached while the driver plays;
#   window    from a terminal inside tmux: a new window of the user's own session.
# The window (or the private server) goes when the demo ends.
#
#   lab_tmux_available || { lab_tmux_missing; ...headless...; }
#   lab_tmux_start demo-foo recv send              # titles of the left and right panes
#   lab_tmux_play my_driver                        # the driver plays the steps
#   my_driver() { lab_step "$LAB_TMUX_LEFT"; lab_tmux_run "$LAB_TMUX_LEFT" "foo-recv"; ...
#                 lab_tmux_wait_done "$LAB_TMUX_LEFT" 10 || return 1; rc=$LAB_RC; }
#   lab_tmux_capture "$LAB_TMUX_LEFT" "$LAB_WORK/left.screen"

LAB_TMUX_MODE=""     # detached, attach or window (lab_tmux_start)
LAB_TMUX_SOCKET=""   # the private server's socket name (tmux -L)
LAB_TMUX_SESSION=""
LAB_TMUX_WINDOW=""   # the window's id (@N)
LAB_TMUX_LEFT=""     # pane ids (%N)
LAB_TMUX_RIGHT=""
LAB_TMUX_ATTACHED=0  # 1 when a person watched the panes (attach or window)
LAB__TMUX_PATH=""    # the socket's path, removed on exit (tmux leaves it behind)
LAB__TMUX_ON=""      # private or user: the server lab_tmux talks to; empty once it is gone
LAB__TMUX_HELLO=""   # what lab_tmux_play types first: how to leave
declare -A LAB__TMUX_SENT=()      # statuses recorded in a pane's file before its last command
declare -A LAB__TMUX_STATUS=()    # a pane's status file: one line per prompt, the last status
declare -A LAB__TMUX_PROMPT=()    # a pane's prompt
LAB__TMUX_CMD=()

# lab_tmux_available: true if tmux can be run.
lab_tmux_available() {
    command -v tmux >/dev/null 2>&1
}

# lab_tmux_missing: say that tmux is missing and how to get it.
lab_tmux_missing() {
    lab_warn "tmux is not installed (not found on PATH), so --tmux cannot open two panes: running the headless demo instead."
    lab_warn "install tmux with your package manager: sudo apt-get install tmux (Debian, Ubuntu),"
    lab_warn "sudo dnf install tmux (Fedora), sudo pacman -S tmux (Arch), then run again with --tmux."
}

# lab_tmux ARGS...: tmux on the demo's server: the private one, or in window mode the user's
# ($TMUX). Fails once the window or server is gone, so that nothing reaches another server.
lab_tmux() {
    case $LAB__TMUX_ON in
    private) tmux -L "$LAB_TMUX_SOCKET" -f /dev/null "$@" ;;
    user) tmux "$@" ;;
    *) return 1 ;;
    esac
}

# lab_tmux_interactive: true when lab_tmux_start will show the panes (stdin and stdout are
# terminals, and no --detached).
lab_tmux_interactive() {
    [[ -t 0 && -t 1 && ${IPC_LAB_DETACHED:-0} != 1 ]]
}

# lab__tmux_shell NAME: write the rc file of a pane's shell; the command that starts the shell is
# then in LAB__TMUX_CMD (an argument vector: tmux runs it without a shell in between).
lab__tmux_shell() {
    local rc=$LAB_WORK/tmux-$1.bashrc status=$LAB_WORK/tmux-$1.status
    : >"$status"
    {
        printf 'PS1=%q\n' "$1\$ "
        # no history file, captions (comments) out of the history, no ! expansion in them
        echo "HISTFILE= HISTIGNORE='#*'; set +H"
        # shellcheck disable=SC2016 # $PATH is for the pane's shell to expand
        printf 'PATH=%q:$PATH\n' "$LAB_BIN"
        printf 'PROMPT_COMMAND=%q\n' "echo \$? >>$(printf '%q' "$status")"
    } >"$rc"
    LAB__TMUX_CMD=(bash --noprofile --rcfile "$rc" -i)
}

# lab_tmux_start TOPIC LEFT_TITLE RIGHT_TITLE [vertical]: open the window of two panes
# (LAB_TMUX_LEFT, LAB_TMUX_RIGHT; with vertical, one above the other), and say where it is shown
# and how to leave it; the shells start in the project root.
lab_tmux_start() {
    local topic=$1 left=$2 right=$3 split=-h prefix pane
    local -a env=()
    [[ ${4:-} != vertical ]] || split=-v
    LAB_TMUX_MODE=detached
    if lab_tmux_interactive; then
        if [[ -n ${TMUX:-} ]]; then LAB_TMUX_MODE=window; else LAB_TMUX_MODE=attach; fi
    fi
    lab__tmux_shell "$left"
    if [[ $LAB_TMUX_MODE == window ]]; then
        LAB__TMUX_ON=user
        # the user's server has its own environment: the run's tag (lab_tag_run) is passed on
        [[ -z ${IPC_LAB_RUN:-} ]] || env=(-e "IPC_LAB_RUN=$IPC_LAB_RUN")
        read -r LAB_TMUX_LEFT LAB_TMUX_WINDOW < <(lab_tmux new-window -P -F '#{pane_id} #{window_id}' \
            "${env[@]}" -n "ipc-lab-$topic" -c "$LAB_ROOT" "${LAB__TMUX_CMD[@]}") || true
        lab_tmux set-option -w -t "$LAB_TMUX_WINDOW" automatic-rename off >/dev/null 2>&1 || true
    else
        LAB__TMUX_ON=private
        LAB_TMUX_SOCKET=ipc-lab-$topic-$$
        LAB_TMUX_SESSION=$topic-$$
        read -r LAB_TMUX_LEFT LAB_TMUX_WINDOW < <(lab_tmux new-session -d -P -F '#{pane_id} #{window_id}' \
            -s "$LAB_TMUX_SESSION" -n "$topic" -x 160 -y 36 -c "$LAB_ROOT" "${LAB__TMUX_CMD[@]}") || true
        LAB__TMUX_PATH=$(lab_tmux display-message -p '#{socket_path}' 2>/dev/null) || true
    fi
    [[ -n $LAB_TMUX_LEFT ]] || lab_die "tmux could not open a window"
    lab__tmux_shell "$right"
    LAB_TMUX_RIGHT=$(lab_tmux split-window "$split" -P -F '#{pane_id}' -t "$LAB_TMUX_LEFT" "${env[@]}" \
        -c "$LAB_ROOT" "${LAB__TMUX_CMD[@]}") ||
        lab_die "tmux could not split the window"
    lab_tmux select-pane -t "$LAB_TMUX_LEFT" -T "$left"
    lab_tmux select-pane -t "$LAB_TMUX_RIGHT" -T "$right"
    lab_tmux set-option -w -t "$LAB_TMUX_WINDOW" pane-border-status top >/dev/null
    lab_tmux set-option -w -t "$LAB_TMUX_WINDOW" pane-border-format ' #{pane_title} ' >/dev/null
    # the names of the panes' status files (for lab_tmux_wait_done) and their prompts
    LAB__TMUX_STATUS[$LAB_TMUX_LEFT]=$LAB_WORK/tmux-$left.status
    LAB__TMUX_STATUS[$LAB_TMUX_RIGHT]=$LAB_WORK/tmux-$right.status
    LAB__TMUX_PROMPT[$LAB_TMUX_LEFT]="$left\$ "
    LAB__TMUX_PROMPT[$LAB_TMUX_RIGHT]="$right\$ "
    pane=$LAB_TMUX_LEFT
    if ((LAB_STEP_MODE)) && [[ $LAB_TMUX_MODE != detached && -z ${IPC_LAB_STEP_KEYS:-} ]]; then
        # a pane of a few lines across the bottom shows the next step and reads the key
        mkfifo "$LAB_WORK/step.in" "$LAB_WORK/step.out"
        LAB__STEP_PANE=$(lab_tmux split-window -v -f -l 4 -P -F '#{pane_id}' -t "$LAB_TMUX_LEFT" \
            bash --noprofile --norc -c "$LAB__STEP_LOOP" step "$LAB_WORK/step.in" "$LAB_WORK/step.out") ||
            lab_die "tmux could not open the step pane"
        lab_tmux select-pane -t "$LAB__STEP_PANE" -T "next step: press Enter or space here (q quits)"
        pane=$LAB__STEP_PANE
    fi
    lab_tmux select-pane -t "$pane"
    case $LAB_TMUX_MODE in
    window)
        prefix=$(tmux show-options -gv prefix 2>/dev/null) || prefix=C-b
        prefix=${prefix/#C-/Ctrl-}
        LAB__TMUX_HELLO="the demo plays in this new window, ipc-lab-$topic: $prefix then l goes back to the window you came from (and then here again); this window closes when the demo ends"
        lab_say "the demo plays in a new window of your tmux session, ipc-lab-$topic: $prefix then l goes back to the window you came from (and then there again); it closes when the demo ends"
        ;;
    attach)
        LAB__TMUX_HELLO="this tmux session is the demo's own: Ctrl-b d leaves it early (and stops the demo); it closes when the demo ends"
        lab_say "attaching to the demo's own tmux session: Ctrl-b d leaves it early (and stops the demo); it closes when the demo ends"
        sleep 1
        ;;
    *) lab_say "no terminal: the session runs detached (tmux -L $LAB_TMUX_SOCKET), the screens follow" ;;
    esac
}

# lab_tmux_kill: close the demo's window (window mode) or kill its private server (and so its
# panes) and remove its socket.
lab_tmux_kill() {
    case $LAB__TMUX_ON in
    user) lab_tmux kill-window -t "$LAB_TMUX_WINDOW" >/dev/null 2>&1 || true ;;
    private)
        lab_tmux kill-server >/dev/null 2>&1 || true
        [[ -z $LAB__TMUX_PATH ]] || rm -f "$LAB__TMUX_PATH"
        ;;
    esac
    LAB__TMUX_ON=""
}

# lab_tmux_type PANE TEXT: type TEXT a word at a time (no Enter).
lab_tmux_type() {
    local pane=$1 word first=1
    local -a words
    read -r -a words <<<"$2"
    for word in "${words[@]}"; do
        ((first)) || lab_tmux send-keys -t "$pane" Space
        first=0
        lab_tmux send-keys -t "$pane" -l -- "$word"
        lab_pause
    done
}

# lab_tmux_enter PANE: press Enter.
lab_tmux_enter() {
    lab_tmux send-keys -t "$1" Enter
    lab_pause
}

# lab_tmux_type_command PANE COMMAND: type COMMAND at the shell prompt. A command line that
# ends exactly at the pane's right margin leaves the cursor at the start of the next row, and
# the row marked wrapped: capture-pane -J would then join the command's first line of output to
# it. A trailing space (which the shell ignores) moves the end off the margin.
lab_tmux_type_command() {
    lab_tmux_type "$1" "$2"
    if [[ $(lab_tmux display-message -p -t "$1" '#{cursor_x}') == 0 ]]; then
        lab_tmux send-keys -t "$1" Space
    fi
}

# lab_tmux_run PANE COMMAND: type COMMAND at the shell prompt and press Enter; lab_tmux_wait_done
# then waits for it to finish.
lab_tmux_run() {
    local status=${LAB__TMUX_STATUS[$1]}
    LAB__TMUX_SENT[$1]=$(wc -l <"$status")
    lab_tmux_type_command "$1" "$2"
    lab_tmux_enter "$1"
}

# lab_tmux_prepare PANE COMMAND: type COMMAND at the shell prompt but leave Enter for later
# (lab_tmux_enter), to start it at a chosen moment; lab_tmux_wait_done then waits for it.
lab_tmux_prepare() {
    lab_tmux_mark "$1"
    lab_tmux_type_command "$1" "$2"
}

# lab_tmux_mark PANE: the next command to finish in PANE is the one lab_tmux_wait_done waits for;
# for a command started otherwise than by lab_tmux_run (recalled with Up, say).
lab_tmux_mark() {
    local status=${LAB__TMUX_STATUS[$1]}
    LAB__TMUX_SENT[$1]=$(wc -l <"$status")
}

# lab_tmux_running PANE: true while the command typed last in PANE (lab_tmux_run, lab_tmux_prepare
# and Enter, or after lab_tmux_mark) has not finished: keys meant for it would reach the shell.
lab_tmux_running() {
    local status=${LAB__TMUX_STATUS[$1]} sent=${LAB__TMUX_SENT[$1]:-0}
    (($(wc -l <"$status") <= sent))
}

# lab_tmux_key PANE KEY...: press keys by their tmux names (Up, C-d, C-c), then pause.
lab_tmux_key() {
    local pane=$1
    shift
    lab_tmux send-keys -t "$pane" "$@"
    lab_pause
}

# lab_screen_output SCREEN PROMPT COMMAND [N]: print what the Nth run (default: the first) of
# COMMAND, typed at PROMPT ("recv$"), left on SCREEN (a file from lab_tmux_capture): the lines
# after its command line up to the next prompt. A program's stdout and stderr are both there.
lab_screen_output() {
    awk -v cmd="$2 $3" -v p="$2" -v n="${4:-1}" '
        on && index($0, p) == 1 { exit }
        on { print; next }
        $0 == cmd && ++seen == n { on = 1 }' "$1"
}

# lab_tmux_screen PANE: print the pane's whole screen and history, wrapped lines joined, trailing
# blanks removed.
lab_tmux_screen() {
    lab_tmux capture-pane -p -J -S - -t "$1" | sed 's/[[:space:]]*$//'
}

# lab_tmux_wait_text PANE REGEX SECS [N]: wait up to SECS for N (default 1) lines of the pane
# matching REGEX; the Nth such line is in LAB_LINE.
lab_tmux_wait_text() {
    local pane=$1 re=$2 tries=$(($3 * 10)) n=${4:-1}
    while :; do
        LAB_LINE=$(lab_tmux_screen "$pane" | grep -E -m "$n" -- "$re" | sed -n "${n}p") || true
        if [[ -n $LAB_LINE ]]; then
            return 0
        fi
        if ((tries-- <= 0)); then
            lab_error "no line like /$re/ in the tmux pane $pane after $3s"
            return 1
        fi
        sleep 0.1
    done
}

# lab_tmux_wait_prompt PANE SECS: wait for the pane's shell to be ready for typing.
lab_tmux_wait_prompt() {
    local status=${LAB__TMUX_STATUS[$1]} tries=$(($2 * 20))
    until [[ -s $status ]]; do
        if ((tries-- <= 0)); then
            lab_error "the shell of the tmux pane $1 did not start within $2s"
            return 1
        fi
        sleep 0.05
    done
}

# lab_tmux_wait_done PANE SECS: wait up to SECS for the command typed last in PANE to finish; its
# exit status is in LAB_RC.
lab_tmux_wait_done() {
    local status=${LAB__TMUX_STATUS[$1]} sent=${LAB__TMUX_SENT[$1]:-0} tries=$(($2 * 20))
    while (($(wc -l <"$status") <= sent)); do
        if ((tries-- <= 0)); then
            lab_error "the command in the tmux pane $1 did not finish within $2s"
            LAB_RC=124
            return 1
        fi
        sleep 0.05
    done
    LAB_RC=$(sed -n "$((sent + 1))p" "$status")
}

# lab_tmux_capture PANE FILE: save the pane's screen (see lab_tmux_screen) without trailing empty
# lines. If the pane is gone, FILE is left as it was and the function returns 1.
lab_tmux_capture() {
    if lab_tmux_screen "$1" 2>/dev/null >"$2.new"; then
        sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}' "$2.new" >"$2"
        rm -f "$2.new"
    else
        rm -f "$2.new"
        return 1
    fi
}

# lab_tmux_end LEFT_FILE RIGHT_FILE LEFT_TITLE RIGHT_TITLE: once the driver is done, save both
# panes' screens (as they are now; if a pane is closed, as the driver saw it last), close the
# window, and, when nobody watched it, print each screen under its title.
lab_tmux_end() {
    lab_tmux_capture "$LAB_TMUX_LEFT" "$1" || true
    lab_tmux_capture "$LAB_TMUX_RIGHT" "$2" || true
    touch "$1" "$2"
    lab_tmux_kill
    if ((LAB_TMUX_ATTACHED == 0)); then
        lab_heading "$3"
        cat "$1"
        lab_heading "$4"
        cat "$2"
    fi
}

# lab_tmux_save_rc NAME: in a tmux driver, keep LAB_RC (the status lab_tmux_wait_done just saw)
# as NAME's, for the checks after the session; lab_tmux_rc NAME prints it ("unknown" if none).
lab_tmux_save_rc() {
    echo "$LAB_RC" >"$LAB_WORK/tmux.$1.rc"
}

lab_tmux_rc() {
    if [[ -s $LAB_WORK/tmux.$1.rc ]]; then
        cat "$LAB_WORK/tmux.$1.rc"
    else
        echo unknown
    fi
}

# lab__tmux_drive DRIVER: wait for the panes' shells, type how to leave, run DRIVER; after the
# last step, when a person watches, time to look (with --step, until a key); then the session
# is detached (attach mode).
lab__tmux_drive() {
    local rc=0
    lab_tmux_wait_prompt "$LAB_TMUX_LEFT" 10 || return 1
    lab_tmux_wait_prompt "$LAB_TMUX_RIGHT" 10 || return 1
    [[ -z $LAB__TMUX_HELLO ]] || lab_caption "$LAB__TMUX_HELLO" "$LAB_TMUX_LEFT"
    "$1" || rc=$?
    if ((rc == 0)) && [[ $LAB_TMUX_MODE != detached ]]; then
        if ((LAB_STEP_MODE)); then
            lab__step_key "the end of the demo: a key closes it"
        else
            lab_tmux_running "$LAB_TMUX_LEFT" ||
                lab_caption "the end: this closes in $(lab__secs $((LAB__PACE_MS * 30))) s" "$LAB_TMUX_LEFT"
            lab_pause 30
        fi
    fi
    : >"$LAB_WORK/driver.done"
    [[ $LAB_TMUX_MODE != attach ]] || lab_tmux detach-client -s "$LAB_TMUX_SESSION" >/dev/null 2>&1 || true
    return "$rc"
}

# lab_tmux_play DRIVER: run the function DRIVER, which types into the panes and waits for the
# results; its status is in LAB_RC (130 when the person watching left early). In attach mode
# DRIVER runs in the background while the session is attached; otherwise in the foreground.
# After q (--step), the demo ends here.
lab_tmux_play() {
    local driver=$1 pid rc=0
    if [[ $LAB_TMUX_MODE == attach ]]; then
        LAB_TMUX_ATTACHED=1
        lab__tmux_drive "$driver" >"$LAB_WORK/driver.log" 2>&1 &
        pid=$!
        lab_track_pid "$pid"
        lab_tmux attach-session -t "$LAB_TMUX_SESSION" || true
        if [[ -e $LAB_WORK/driver.done || -e $LAB_WORK/quit ]] || ! lab_alive "$pid"; then
            lab_wait_exit "$pid" 5 || true
            rc=$LAB_RC
        else
            lab_warn "you left the session before the demo finished"
            lab_stop "$pid"
            rc=130
        fi
        cat "$LAB_WORK/driver.log" >&2
    else
        [[ $LAB_TMUX_MODE == detached ]] || LAB_TMUX_ATTACHED=1
        # the driver's own status: LAB_RC may hold what its last lab_tmux_wait_done saw
        lab__tmux_drive "$driver" || rc=$?
    fi
    [[ ! -e $LAB_WORK/quit ]] || lab__quit_exit
    LAB_RC=$rc
}

# lab_tmux_left_early RC: true when the driver (status RC) was stopped because the person
# watching left the session; says so, as a failed check.
lab_tmux_left_early() {
    ((LAB_TMUX_ATTACHED && $1 == 130)) || return 1
    lab_fail "the demo did not run to its end (the session was left early): only the clean-up is checked"
}

# ----------------------------------------------------------------------------------------------
# System V semaphore sets (/proc/sysvipc/sem, which unlike the segments' table names no creator)

# lab_semaphore_exists ID: true while /proc/sysvipc/sem lists semaphore set ID.
lab_semaphore_exists() {
    awk -v id="$1" 'NR > 1 && $2 == id { found = 1 } END { exit !found }' /proc/sysvipc/sem
}

# lab_check_match WHAT FILE REGEX DESCRIPTION: a line of FILE must match the extended REGEX;
# the check passes quoting that line, or fails saying what FILE lacks.
lab_check_match() {
    local line
    if line=$(grep -E -m 1 -- "$3" "$2"); then
        lab_pass "$1 has the line: $line"
    else
        lab_fail "$1 lacks a line $4"
    fi
}

# lab_check_semaphore_gone ID: the check that the kernel no longer lists semaphore set ID (waits
# up to 2 s, since its creator removes it as it exits).
lab_check_semaphore_gone() {
    local tries=40
    while lab_semaphore_exists "$1"; do
        if ((tries-- <= 0)); then
            lab_fail "semaphore set $1 is still listed in /proc/sysvipc/sem (ipcs -s)"
            return 1
        fi
        sleep 0.05
    done
    lab_pass "semaphore set $1 is gone from /proc/sysvipc/sem"
}

# lab_screen_unjoin SCREEN PROMPT COMMAND...: print SCREEN (a file from lab_tmux_capture) with each
# line that is one of the COMMANDs typed at PROMPT ("recv$") followed by more text split in two,
# for lab_screen_output. A command line exactly as wide as the pane (or twice, ...) leaves the
# cursor at the margin; readline wraps it there itself, the line is marked wrapped, and
# capture-pane -J then joins the command's first line of output to it.
lab_screen_unjoin() {
    local screen=$1 prompt=$2
    shift 2
    # through the environment: awk -v would read backslashes in a command as escapes
    LAB__TYPED=$(printf '%s\n' "$@") awk -v p="$prompt" '
        BEGIN {
            m = split(ENVIRON["LAB__TYPED"], all, "\n")
            for (i = 1; i <= m; i++) if (all[i] != "") typed[++n] = p " " all[i]
        }
        {
            best = ""
            for (i = 1; i <= n; i++)
                if (index($0, typed[i]) == 1 && length(typed[i]) > length(best)) best = typed[i]
            if (best != "" && length($0) > length(best)) {
                print best
                print substr($0, length(best) + 1)
                next
            }
            print
        }' "$screen"
}

# ----------------------------------------------------------------------------------------------
# A run's processes and kernel objects, for programs that print neither their pids nor the ids of
# what they make (ipc-bench): a tag in the environment of everything the run starts, the children
# of a process, the segments a process created, and what the System V tables gained meanwhile.
#
#   lab_tag_run                                          # first: before anything is started
#   lab_sysv_snapshot                                    # the System V tables before the run
#   lab_wait_child "$pid" ipc-bench 10; child=$LAB_CHILD # a child of PID, by its name
#   lab_segments_of "$pid"; ids=("${LAB_FOUND[@]}")     # the segments PID created
#   lab_tmux_run_watch "$LAB_TMUX_LEFT" "ipc-bench ..." 30; rc=$LAB_RC pids=("${LAB_FOUND[@]}")
#   lab_check_tagged_gone ipc-bench                      # no process of the run is left
#   lab_check_segments_of_gone "the benchmark" "${pids[@]}"
#   lab_check_sysv_new_gone sem msg                      # no semaphore set or queue made meanwhile
#   lab_check_queues_gone "its POSIX queues" /name-1 /name-2

LAB_RUN_TAG=""      # this run's tag (lab_tag_run), exported as IPC_LAB_RUN
LAB_FOUND=()        # the pids or ids found by the functions below
LAB_CHILD=""        # the child found by lab_wait_child

# lab_tag_run: export IPC_LAB_RUN, a tag of this run's own: every process started from now on
# carries it in its environment (a forked child, the private tmux server, the shells of its panes
# and what they run), so that lab_tagged_pids finds them even when their pids were never seen.
lab_tag_run() {
    LAB_RUN_TAG=$$-$(lab_now_ms)-$RANDOM
    export IPC_LAB_RUN=$LAB_RUN_TAG
}

# lab_tagged_pids NAME: the pids of the processes named NAME (pgrep -x) whose environment holds
# this run's tag, in LAB_FOUND. An ended process that is not reaped yet has no environment left,
# and so counts as gone.
lab_tagged_pids() {
    local pid
    local -a all=()
    LAB_FOUND=()
    [[ -n $LAB_RUN_TAG ]] || return 0
    mapfile -t all < <(pgrep -x -- "$1")
    for pid in "${all[@]}"; do
        if grep -qzxF -- "IPC_LAB_RUN=$LAB_RUN_TAG" "/proc/$pid/environ" 2>/dev/null; then
            LAB_FOUND+=("$pid")
        fi
    done
}

# lab_check_tagged_gone NAME: the check that no process named NAME started by this run (tagged by
# lab_tag_run) still runs; waits up to 2 s, since one may be ending.
lab_check_tagged_gone() {
    local tries=40
    while lab_tagged_pids "$1" && ((${#LAB_FOUND[@]} > 0)); do
        if ((tries-- <= 0)); then
            lab_fail "$1 started by this run still runs: PID ${LAB_FOUND[*]} (ps -fp PID shows one)"
            return 1
        fi
        sleep 0.05
    done
    lab_pass "no $1 process of this run is left (pgrep -x $1, this run's IPC_LAB_RUN in /proc/PID/environ)"
}

# lab_nap SECS: sleep SECS (a fraction such as 0.005) without starting a process: a read with a
# time-out on a FIFO of the work directory that nobody writes to. For polls milliseconds apart.
lab_nap() {
    local fifo=$LAB_WORK/nap
    [[ -p $fifo ]] || mkfifo "$fifo" 2>/dev/null || true
    # opened for reading and writing, the open does not wait for a writer
    read -r -t "$1" _ <>"$fifo" || true
}

# lab_children PID: the pids of PID's children in LAB_FOUND (/proc/PID/task/PID/children, read
# without starting a process; pgrep -P where the kernel does not offer that file).
lab_children() {
    local kids=""
    LAB_FOUND=()
    if [[ -r /proc/$1/task/$1/children ]]; then
        { read -r kids <"/proc/$1/task/$1/children"; } 2>/dev/null || true
        read -r -a LAB_FOUND <<<"$kids"
    elif lab_alive "$1"; then
        mapfile -t LAB_FOUND < <(pgrep -P "$1")
    fi
}

# lab_wait_child PID NAME SECS: wait up to SECS (a whole number) for a child of PID named NAME
# (its comm: a forked child has its parent's name, exec gives it the program's); its pid is in
# LAB_CHILD. False when PID ends first or the time runs out.
lab_wait_child() {
    local parent=$1 name=$2 tries=$(($3 * 50)) pid comm
    LAB_CHILD=""
    while lab_alive "$parent"; do
        lab_children "$parent"
        for pid in "${LAB_FOUND[@]}"; do
            { read -r comm <"/proc/$pid/comm"; } 2>/dev/null || continue
            if [[ $comm == "$name" ]]; then
                LAB_CHILD=$pid
                return 0
            fi
        done
        ((tries-- > 0)) || return 1
        lab_nap 0.02
    done
    return 1
}

# lab_segments_of PID...: the ids of the segments that /proc/sysvipc/shm lists with one of PIDs as
# their creator (cpid), in LAB_FOUND. A segment marked for removal (IPC_RMID: key 0, mode 01600,
# "dest" in ipcs) is listed until its last detach.
lab_segments_of() {
    mapfile -t LAB_FOUND < <(awk -v pids=" $* " 'NR > 1 && index(pids, " " $5 " ") { print $2 }' \
        /proc/sysvipc/shm)
}

# lab_check_segments_of_gone WHAT PID...: the check that no segment created by one of PIDs (WHAT
# names them) is listed any more; waits up to 2 s, since the last detach comes as a process ends.
lab_check_segments_of_gone() {
    local what=$1 tries=40
    shift
    if (($# == 0)); then
        lab_fail "$what: no process id to look for (none was seen)"
        return 1
    fi
    while lab_segments_of "$@" && ((${#LAB_FOUND[@]} > 0)); do
        if ((tries-- <= 0)); then
            lab_fail "segment(s) ${LAB_FOUND[*]} made by $what (PID $*) still listed in /proc/sysvipc/shm (ipcs -m -p)"
            return 1
        fi
        sleep 0.05
    done
    lab_pass "no segment made by $what (PID $*) is listed in /proc/sysvipc/shm (ipcs -m -p: cpid)"
}

# lab_sysv_snapshot: remember the ids /proc/sysvipc lists now, for lab_sysv_new: segments (shm),
# semaphore sets (sem) and message queues (msg).
lab_sysv_snapshot() {
    local kind
    for kind in shm sem msg; do
        awk 'NR > 1 { print $2 }' "/proc/sysvipc/$kind" >"$LAB_WORK/sysv.$kind" 2>/dev/null ||
            : >"$LAB_WORK/sysv.$kind"
    done
}

# lab_sysv_new KIND: the ids of this user's KIND objects (shm, sem or msg) that /proc/sysvipc/KIND
# lists now and did not at lab_sysv_snapshot, in LAB_FOUND. A segment whose creator still runs and
# is not this run's (lab_tag_run) is left out: another program holds it. The tables of semaphore
# sets and queues name no creator, so what another program of this user made meanwhile counts too.
lab_sysv_new() {
    local kind=$1 col=10 line id cpid
    local -a rows=()
    [[ $kind != sem ]] || col=7
    LAB_FOUND=()
    [[ -r /proc/sysvipc/$kind && -f $LAB_WORK/sysv.$kind ]] || return 0
    mapfile -t rows < <(awk -v uid="$UID" -v col="$col" '
        FILENAME == ARGV[1] { old[$1] = 1; next }
        FNR > 1 && $col == uid && !($2 in old) { print $2, $5 }' \
        "$LAB_WORK/sysv.$kind" "/proc/sysvipc/$kind")
    for line in "${rows[@]}"; do
        read -r id cpid <<<"$line"
        if [[ $kind == shm ]] && lab_alive "$cpid" &&
            ! grep -qzxF -- "IPC_LAB_RUN=$LAB_RUN_TAG" "/proc/$cpid/environ" 2>/dev/null; then
            continue
        fi
        LAB_FOUND+=("$id")
    done
}

# lab_check_sysv_new_gone KIND...: the check that no KIND object (shm, sem, msg: see lab_sysv_new)
# made since lab_sysv_snapshot is still listed; waits up to 2 s, since an object goes as the
# program that made it ends.
lab_check_sysv_new_gone() {
    local kind left tries=40
    local -a names=()
    local -A word=([shm]="segment" [sem]="semaphore set" [msg]="System V message queue")
    local -A flag=([shm]=-m [sem]=-s [msg]=-q)
    for kind in "$@"; do
        names+=("${word[$kind]}s (ipcs ${flag[$kind]})")
    done
    while :; do
        left=""
        for kind in "$@"; do
            lab_sysv_new "$kind"
            ((${#LAB_FOUND[@]} == 0)) || left+="${left:+, }${word[$kind]} ${LAB_FOUND[*]}"
        done
        [[ -n $left ]] || break
        if ((tries-- <= 0)); then
            lab_fail "made during this run and still listed in /proc/sysvipc: $left"
            return 1
        fi
        sleep 0.05
    done
    lab_pass "none made during this run is left: $(printf '%s, ' "${names[@]}" | sed 's/, $//')"
}

# lab_check_queues_gone WHAT NAME...: the check, in one line, that none of the POSIX queues
# NAME... (WHAT names them) exists; waits up to 2 s, as lab_check_queue_gone.
lab_check_queues_gone() {
    local what=$1 name rc tries=40
    local -a there unknown
    shift
    while :; do
        there=() unknown=()
        for name in "$@"; do
            rc=0
            lab_queue_exists "$name" 2>/dev/null || rc=$?
            case $rc in
            0) there+=("$name") ;;
            2) unknown+=("$name") ;;
            esac
        done
        if ((${#unknown[@]} > 0)); then
            lab_fail "cannot tell whether $what exist: ${unknown[*]} (mq-recv --attr fails otherwise than ENOENT)"
            return 1
        fi
        ((${#there[@]} > 0)) || break
        if ((tries-- <= 0)); then
            lab_fail "$what still exist: ${there[*]} (mq-recv --unlink -n NAME removes one)"
            return 1
        fi
        sleep 0.05
    done
    lab_pass "$what are gone: none of the $# names exists (mq-recv --attr: ENOENT)"
}

# lab_tmux_run_watch PANE COMMAND SECS: lab_tmux_run and lab_tmux_wait_done in one (the status in
# LAB_RC; false when the time runs out), looking every few milliseconds meanwhile at the processes
# the pane's shell starts for COMMAND: their pids, in the order seen, are in LAB_FOUND. (A process
# that ends within a millisecond or two of its start may be missed.)
lab_tmux_run_watch() {
    local pane=$1 status=${LAB__TMUX_STATUS[$1]} tries=$(($3 * 250)) shell sent pid
    local -a lines seen=()
    LAB_RC=124
    shell=$(lab_tmux display-message -p -t "$pane" '#{pane_pid}') || {
        lab_error "tmux did not tell the pid of the shell in the pane $pane"
        return 1
    }
    lab_tmux_prepare "$pane" "$2"
    sent=${LAB__TMUX_SENT[$pane]}
    # Enter without lab_tmux_enter's pause: a short command could end unseen meanwhile
    lab_tmux send-keys -t "$pane" Enter
    while :; do
        lab_children "$shell"
        for pid in "${LAB_FOUND[@]}"; do
            [[ " ${seen[*]} " == *" $pid "* ]] || seen+=("$pid")
        done
        mapfile -t lines <"$status"
        ((${#lines[@]} <= sent)) || break
        if ((tries-- <= 0)); then
            LAB_FOUND=("${seen[@]}")
            lab_error "the command in the tmux pane $pane did not finish within $3s"
            return 1
        fi
        lab_nap 0.003
    done
    LAB_FOUND=("${seen[@]}")
    LAB_RC=${lines[sent]}
    lab_pause
}
