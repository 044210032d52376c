#!/usr/bin/env bash
# scripts/lib.sh: the player of the demos' screenplays (source it, do not run it). A demo lists its
# steps' captions, then plays them in ONE function, the same for both modes:
#
#   LAB_STEPS=("the receiver holds its mailbox" "a sender sends; Enter lets the receiver take it")
#   play() {
#       lab_step L                               # the next caption (typed into the left pane)
#       lab_run L mq-recv --hold --unlink /q     # a command in the left pane (R: the right one)
#       lab_await L 'holding: press Enter'       # wait for a line (bounded); groups in LAB_MATCH
#       lab_step R
#       lab_run R mq-send /q hello
#       lab_end R                                # wait for its end, check its status (0)
#       lab_type L ""                            # a line typed on its input (here: Enter)
#       lab_end L
#       lab_expect L "hello"                     # what it must have printed, in this order
#       lab_gone mq /q                           # the kernel object must be gone
#   }
#   lab_demo_start mq-recv mq-send -- "$@"       # options, set-up, the binaries (first on PATH)
#   lab_panes mq recv send                       # the topic, the panes' names (tmux: the window)
#   play
#   lab_finish                                   # the summary; exit 0, or 1 if a check failed
#
# Headless, each command runs here as a process whose stdin is a pipe (lab_type writes to it,
# lab_key C-d closes it), its output shown as it comes, labelled with its pane's name ([recv]).
# With --tmux the same commands are typed into two panes at the pace, and the waits read the
# screens: a pane's output is what it shows below the command typed last. Every wait is bounded;
# one that runs out stops the play, a failed check. On exit, error, Ctrl-C, SIGTERM and SIGHUP
# the trap stops every process started or tracked, closes the tmux window (or kills the private
# server) and removes what lab_track names and is still there. Functions lab_*, globals LAB_*,
# internals lab__*/LAB__*; a result goes to a global (LAB_RC, LAB_PID, ...), not to stdout, so
# that no subshell runs it and a signal is handled at once.

# The globals are read by the scripts that source this file, which shellcheck cannot see from here.
# shellcheck disable=SC2034

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    echo "lib.sh holds the demos' player: source it from a demo (see its header)" >&2
    exit 2
fi
shopt -s extglob # for *([0-9;]) in patterns

LAB_ROOT=$(CDPATH="" cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_SCRIPT=${LAB_SCRIPT:-$(basename "$0")}
LAB_BIN=""          # the directory holding the binaries (lab_find_bins)
LAB_WORK=""         # a private temporary directory, removed on exit (lab_init)
LAB_DEMO_TMUX=0     # 1 with --tmux (and tmux there)
LAB_PID=""          # the process lab_run started (with --tmux: once seen, for our programs)
LAB_RC=0            # the exit status lab_end saw
LAB_LINE=""         # the line lab_await found, and its groups in LAB_MATCH
LAB_MATCH=()
LAB_STATE=""        # a process's state letter (lab_proc_state); lab_children: LAB_FOUND
LAB_CHILD=""        # the child found by lab_wait_child
LAB_FAILED=0        # how many checks failed
LAB_STEPS=()        # the demo's captions, one per step, in the order both modes play them
LAB_STEP=0          # the steps begun so far
LAB_STEP_MODE=0     # 1 with --step: a key before each step
LAB_PACE=""         # --pace, else $IPC_LAB_PACE, else the mode's default
LAB__PACE_MS=0      # the pace in milliseconds: between typed words; 10 x before a step
LAB__WIDTH=80       # the width the scripts' own text is wrapped at (lab_init)
LAB__KEYS_FD=""     # $IPC_LAB_STEP_KEYS, once opened
LAB__CLEANED=0
LAB__SIGNAL=""      # a signal that came while the exit trap was cleaning up
LAB__RUNS=0         # commands started headless (their files: out.N, in.N)
LAB__PIDS=()        # processes to stop on exit
LAB__OBJECTS=()     # "KIND ID CPID" of what to remove on exit if still there (lab_track)
declare -A LAB__NAME=()    # a pane's name (L, R): its title, prompt and label
declare -A LAB__WHERE=()   # where a pane is: left and right, or above and below
declare -A LAB__CMD=()     # the command typed last in a pane, as typed
declare -A LAB__PROC=()    # headless: the process of a pane's last command
declare -A LAB__OUT=()     # headless: its output file
declare -A LAB__SHOWN=()   # headless: the lines of an output file shown so far
declare -A LAB__PANE=()    # tmux: a pane's id (%N)
declare -A LAB__STATUS=()  # tmux: a pane's status file: a line per prompt, the last status
declare -A LAB__SENT=()    # tmux: the lines of the status file before the pane's last command
declare -A LAB__MARK=()    # tmux: the lines of the screen above the pane's last command's output

# ----------------------------------------------------------------------------------------------
# Output: headings, narration, messages

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

# lab_heading TEXT: a heading, with a blank line before it. lab_say TEXT...: a paragraph for the
# reader. lab_cmd TEXT: a command, as a shell prompt shows it. All on stdout.
lab_heading() {
    echo
    lab_wrap "$LAB__WIDTH" "==> " "    " "$LAB__BOLD" "$*"
}
lab_say() { lab_wrap "$LAB__WIDTH" "" "" "$LAB__DIM" "$*"; }
lab_cmd() { printf '%s$ %s%s\n' "$LAB__BOLD" "$*" "$LAB__RESET"; }

# lab_warn TEXT / lab_error TEXT: on stderr, prefixed with the script's name. lab_die: an error,
# exit 1; lab_usage_error: exit 2 (the exit trap cleans up).
lab_warn() { printf '%s%s: warning: %s%s\n' "$LAB__EYELLOW" "$LAB_SCRIPT" "$*" "$LAB__ERESET" >&2; }
lab_error() { printf '%s%s: error: %s%s\n' "$LAB__ERED" "$LAB_SCRIPT" "$*" "$LAB__ERESET" >&2; }
lab_die() {
    lab_error "$*"
    exit 1
}
lab_usage_error() {
    lab_error "$*"
    printf 'Try %s --help\n' "$LAB_SCRIPT" >&2
    exit 2
}

# lab__show_new LABEL FILE [--all]: FILE's complete lines not shown before, each as [LABEL] LINE;
# with --all also a last line without a newline (a prompt: the writer has exited).
lab__show_new() {
    local done=${LAB__SHOWN[$2]:-0} line
    local -a lines
    [[ -s $2 ]] || return 0
    mapfile -s "$done" lines <"$2"
    for line in "${lines[@]}"; do
        [[ $line == *$'\n' || ${3:-} == --all ]] || break
        printf '[%s] %s\n' "$1" "${line%$'\n'}"
        done=$((done + 1))
    done
    LAB__SHOWN[$2]=$done
}

# ----------------------------------------------------------------------------------------------
# Checks: each prints one line, ok or FAIL; lab_finish exits 1 when any failed.

lab_pass() { printf '%sok%s   %s\n' "$LAB__GREEN" "$LAB__RESET" "$*"; }
lab_fail() {
    printf '%sFAIL%s %s\n' "$LAB__RED" "$LAB__RESET" "$*"
    LAB_FAILED=$((LAB_FAILED + 1))
}

# lab_finish: after the last step: the panes closed (with --tmux, after time to look), then the
# summary line; exits 1 if a check failed, else 0. A run that played fewer steps than the demo
# lists (LAB_STEPS), or more, fails too.
lab_finish() {
    lab__show
    [[ -z $LAB__TMUX_ON ]] || lab__tmux_close
    if ((LAB_FAILED == 0 && LAB_STEP != ${#LAB_STEPS[@]})); then
        lab_fail "this run played $LAB_STEP of the demo's ${#LAB_STEPS[@]} steps (LAB_STEPS)"
    fi
    if ((LAB_FAILED > 0)); then
        printf '\n%s%s: %d check(s) failed%s\n' "$LAB__RED" "$LAB_SCRIPT" "$LAB_FAILED" "$LAB__RESET"
        exit 1
    fi
    printf '\n%s%s: all checks passed%s\n' "$LAB__GREEN" "$LAB_SCRIPT" "$LAB__RESET"
    exit 0
}

# lab_abort TEXT: a failed check the play cannot go on from: the panes' screens (detached), then
# the summary, exit 1.
lab_abort() {
    lab_fail "$*"
    lab_say "$LAB_SCRIPT: the demo stops here, at step $LAB_STEP of ${#LAB_STEPS[@]}"
    [[ -z $LAB__TMUX_ON ]] || lab__tmux_close now
    LAB_STEP=${#LAB_STEPS[@]}
    lab_finish
}

# ----------------------------------------------------------------------------------------------
# Options, set-up and clean-up

# lab_demo_start PROGRAM... -- ARGS...: what every demo does first. Reads the options every demo
# takes from ARGS (--tmux, --detached, --pace SECS, --step, --bin-dir DIR, -h/--help, which calls
# the script's own usage function), sets up (lab_init), falls back to headless when tmux is
# missing, and finds the PROGRAMs (lab_find_bins), first on PATH from then on.
lab_demo_start() {
    local -a programs=()
    local bin_dir="" pace="" from=--pace
    while (($#)) && [[ $1 != -- ]]; do
        programs+=("$1")
        shift
    done
    (($#)) && shift
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
    if ((LAB_DEMO_TMUX)) && ! command -v tmux >/dev/null 2>&1; then
        lab_warn "tmux is not installed (not found on PATH), so --tmux cannot open two panes: running" \
            "the headless demo instead. Install tmux with your package manager (sudo apt-get install" \
            "tmux, sudo dnf install tmux, sudo pacman -S tmux), then run again with --tmux."
        LAB_DEMO_TMUX=0
    fi
    if [[ -z $pace ]] && ((LAB_DEMO_TMUX)); then
        if lab_tmux_interactive; then lab__pace 0.3; else lab__pace 0.05; fi
    fi
    lab_find_bins "$bin_dir" "${programs[@]}"
    PATH=$LAB_BIN:$PATH
    if ((LAB_DEMO_TMUX)); then
        lab_say "pace: $LAB_PACE s between typed words, $(lab__secs $((LAB__PACE_MS * 10))) s to read before each step (--pace SECS changes both)"
    elif [[ -n $LAB_PACE ]]; then
        lab_say "pace: $(lab__secs $((LAB__PACE_MS * 10))) s to read before each step (--pace $LAB_PACE)"
    fi
}

# lab_options_help: the end of a demo's --help: the options every demo takes, the exit status, the
# examples.
lab_options_help() {
    # inside tmux, nothing says Ctrl-b d: it would detach the user's own session
    local leave=" (Ctrl-b d leaves it early)" in="                  "
    [[ -z ${TMUX:-} ]] || leave=""
    cat <<EOF
$(lab_wrap 98 "$in" "$in" "" "From a terminal the panes are shown as they are typed into: inside tmux in \
a new window of your session (your prefix key, then l, goes back to the window you came from), \
outside tmux in a session of the demo's own$leave. The window or session closes when the demo \
ends. Without a terminal the session runs detached, then each pane's screen is printed.")
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

On an error, Ctrl-C, SIGTERM or SIGHUP every program the demo started is stopped (a stopped one
too) and what it made is removed. Exit status: 0 when every check passed, 1 when one failed, 2
for a usage error.

Examples:
$(printf '  %-39s %s\n' "scripts/$LAB_SCRIPT" "headless, builds first if needed" \
    "scripts/$LAB_SCRIPT --tmux --step" "watch it typed into two panes, a key before each step")
  scripts/$LAB_SCRIPT --bin-dir target/release
EOF
}

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

# lab_init: the private work directory, the width, the traps.
lab_init() {
    LAB_WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipc-lab.XXXXXX")
    mkfifo "$LAB_WORK/nap"
    # the width the scripts' own text is wrapped at: COLUMNS, else the terminal's, else 80
    LAB__WIDTH=${COLUMNS:-}
    if ! [[ $LAB__WIDTH =~ ^[0-9]+$ ]] && [[ -t 1 ]]; then
        LAB__WIDTH=$(tput cols 2>/dev/null) || LAB__WIDTH=""
    fi
    [[ $LAB__WIDTH =~ ^[0-9]+$ ]] && ((LAB__WIDTH >= 20)) || LAB__WIDTH=80
    trap lab__on_exit EXIT
    trap 'lab__on_signal INT 130' INT
    trap 'lab__on_signal TERM 143' TERM
    trap 'lab__on_signal HUP 129' HUP
}

# lab_track KIND ID [CPID]: remove ID on exit if it is still there: a segment (shm; only while
# CPID, by default its creator now, is still its creator), a semaphore set (sem), a POSIX queue
# (mq); or stop process ID (pid).
lab_track() {
    local cpid=${3:-}
    [[ $1 != pid ]] || LAB__PIDS+=("$2")
    [[ $1 != shm || -n $cpid ]] || cpid=$(lab__segment_cpid "$2") || cpid=""
    [[ $1 == pid ]] || LAB__OBJECTS+=("$1 $2 $cpid")
}

# lab_cleanup: stop the processes, close the tmux window or kill the private server, remove what
# is tracked and still there, and the work directory. Safe to call more than once.
lab_cleanup() {
    local pid kind id cpid tries entry
    ((LAB__CLEANED == 0)) || return 0
    LAB__CLEANED=1
    lab__restore_output
    exec 7>&- 8>&-
    # the processes tracked, and every child of this script (a signal may come between a start
    # and its tracking)
    lab_children $$
    for pid in "${LAB__PIDS[@]}" "${LAB_FOUND[@]}"; do
        if lab_alive "$pid"; then lab_stop "$pid"; fi
    done
    lab__tmux_kill
    for entry in "${LAB__OBJECTS[@]}"; do
        read -r kind id cpid <<<"$entry"
        # a program that was just stopped (or hung up with its pane) may still be removing it
        tries=40
        while lab__exists "$kind" "$id" 2>/dev/null && ((tries-- > 0)); do lab_nap 0.05; done
        lab__exists "$kind" "$id" 2>/dev/null || continue
        [[ $kind != shm || -z $cpid || $(lab__segment_cpid "$id") == "$cpid" ]] || continue
        if case $kind in
            shm) ipcrm -m "$id" ;;
            sem) ipcrm -s "$id" ;;
            mq) "$LAB_BIN/mq-recv" --unlink --nonblock --count 1 --color never "$id" ;;
            esac >/dev/null 2>&1 || ! lab__exists "$kind" "$id" 2>/dev/null; then
            lab_warn "removed $kind $id, left behind"
        else
            lab_warn "could not remove $kind $id, left behind: ipcrm -m/-s ID, or mq-recv --unlink -n NAME"
        fi
    done
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
    lab__restore_output
    echo >&2
    lab_warn "interrupted by SIG$1: cleaning up"
    lab_cleanup
    trap - EXIT INT TERM HUP
    kill -s "$1" "$$"
    exit "$2"
}

# ----------------------------------------------------------------------------------------------
# Processes and kernel objects

# lab_nap SECS: sleep SECS (a fraction) without starting a process: a read with a time-out on a
# FIFO of the work directory that nobody writes to (opened for reading and writing: no wait).
lab_nap() { read -r -t "$1" _ <>"$LAB_WORK/nap" || true; }

# lab_alive PID: true while PID runs (an exited child that is not reaped yet counts as gone).
lab_alive() { lab_proc_state "$1" && [[ $LAB_STATE != Z ]]; }

# lab_proc_state PID: PID's state letter in LAB_STATE, as ps shows it first in STAT (R running,
# S asleep, T stopped, Z ended but not reaped); false, LAB_STATE empty, without such a process.
lab_proc_state() {
    local stat
    LAB_STATE=""
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    LAB_STATE=${stat:0:1}
}

# lab_wait_state PID LETTERS SECS: wait up to SECS for PID's state to be one of LETTERS ("T":
# stopped; "RSD": running again); false when the time runs out or PID ends first.
lab_wait_state() {
    local end=$((${EPOCHREALTIME//[!0-9]/} + $3 * 1000000)) i=0
    while lab_alive "$1"; do
        [[ $2 != *"$LAB_STATE"* ]] || return 0
        lab__tick $((i++)) "$end" || return 1
    done
    return 1
}

# lab_wait_gone PID SECS: wait up to SECS (a whole number) for PID to end; false if it still runs.
lab_wait_gone() {
    local tries=$(($2 * 20))
    while lab_alive "$1"; do
        ((tries-- > 0)) || return 1
        lab_nap 0.05
    done
}

# lab_children PID: PID's children in LAB_FOUND (without starting a process where the kernel has
# /proc/PID/task/PID/children).
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

# lab_wait_child PID NAME SECS: wait up to SECS for a child of PID named NAME (its comm), in
# LAB_CHILD; false when PID ends first or the time runs out.
lab_wait_child() {
    local end=$((${EPOCHREALTIME//[!0-9]/} + $3 * 1000000)) i=0 comm
    while lab_alive "$1"; do
        lab_children "$1"
        for LAB_CHILD in "${LAB_FOUND[@]}"; do
            { read -r comm <"/proc/$LAB_CHILD/comm"; } 2>/dev/null && [[ $comm == "$2" ]] && return 0
        done
        lab__tick $((i++)) "$end" || break
    done
    LAB_CHILD=""
    return 1
}

# lab__descendants PID: print the pids of PID's children, grandchildren, ... (deepest first).
lab__descendants() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do
        lab__descendants "$child"
        echo "$child"
    done
}

# lab_stop PID: SIGTERM to PID and its descendants, up to 2 s to end, then SIGKILL; reaped when
# it is our child.
lab_stop() {
    local pid
    local -a all
    mapfile -t all < <(lab__descendants "$1")
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

# lab__untrack PID: PID was reaped: the clean-up must not signal another process that gets its
# number later.
lab__untrack() {
    local i
    for i in "${!LAB__PIDS[@]}"; do [[ ${LAB__PIDS[i]} != "$1" ]] || unset 'LAB__PIDS[i]'; done
}

lab__segment_cpid() {
    awk -v id="$1" 'NR > 1 && $2 == id { print $5; found = 1 } END { exit !found }' /proc/sysvipc/shm
}

# lab__exists KIND ID: true while ID is there: a segment (shm), a semaphore set (sem), a POSIX
# queue (mq, looked for with mq-recv --attr: status 2 and a message when it cannot tell), a path
# (path) or a process (pid).
lab__exists() {
    local err
    case $1 in
    shm | sem) awk -v id="$2" 'NR > 1 && $2 == id { f = 1 } END { exit !f }' "/proc/sysvipc/$1" ;;
    path) [[ -e $2 || -L $2 ]] ;;
    pid) lab_alive "$2" ;;
    mq)
        # --attr opens an existing queue only, and receives nothing
        if err=$("$LAB_BIN/mq-recv" --attr --color never "$2" 2>&1 >/dev/null); then
            return 0
        fi
        [[ $err != *"(ENOENT)"* ]] || return 1
        lab_error "cannot tell whether queue $2 exists: ${err%%$'\n'*}"
        return 2
        ;;
    esac
}

# lab_gone KIND ID [WHAT]: the check that ID (see lab__exists) is gone; waits up to 2 s, since a
# program removes what it made as it exits.
lab_gone() {
    local kind=$1 id=$2 tries=40 rc
    local -A noun=([shm]=segment [sem]="semaphore set" [mq]=queue [path]=path [pid]=process)
    local -A from=([shm]=" from /proc/sysvipc/shm (ipcs -m)" [sem]=" from /proc/sysvipc/sem (ipcs -s)"
        [mq]=" (mq-recv --attr: ENOENT)")
    while :; do
        rc=0
        lab__exists "$kind" "$id" || rc=$?
        ((rc == 0 && tries-- > 0)) || break
        lab_nap 0.05
    done
    case $rc in
    0) lab_fail "${3:-${noun[$kind]}} $id is still there" ;;
    1) lab_pass "${3:-${noun[$kind]}} $id is gone${from[$kind]:-}" ;;
    *) lab_fail "cannot tell whether ${3:-${noun[$kind]}} $id is gone" ;;
    esac
}

# lab_queue_name PREFIX: a POSIX queue name of this run's own in LAB_QUEUE, PREFIX-PID (or, should
# a killed run whose pid came round again have left that one, PREFIX-PID-N), tracked.
LAB_QUEUE=""
lab_queue_name() {
    local rc=0
    LAB_QUEUE=$1-$$
    lab__exists mq "$LAB_QUEUE" || rc=$?
    ((rc != 2)) || lab_die "cannot choose a queue name (see above)"
    ((rc != 0)) || LAB_QUEUE=$1-$$-$RANDOM
    lab_track mq "$LAB_QUEUE"
}

# ----------------------------------------------------------------------------------------------
# Pace and steps

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

# lab_step PANE: begin the demo's next step (LAB_STEPS): after a pause to read what the last one
# showed (10 x the pace; not with --step), its caption (lab_caption, into PANE); then, with
# --step, a key; q ends the demo.
lab_step() {
    local caption=${LAB_STEPS[LAB_STEP]:-}
    [[ -n $caption ]] || lab_die "step $((LAB_STEP + 1)) is not listed in LAB_STEPS"
    LAB_STEP=$((LAB_STEP + 1))
    ((LAB_STEP == 1 || LAB_STEP_MODE)) || lab_pause 10
    lab_caption "$1" "$caption"
    ((LAB_STEP_MODE)) || return 0
    # headless, the caption is just above; typed into a pane, it may be out of sight
    if ((LAB_DEMO_TMUX)); then
        lab__step_key "step $LAB_STEP of ${#LAB_STEPS[@]}: $caption"
    else
        lab__step_key "step $LAB_STEP of ${#LAB_STEPS[@]}"
    fi
    [[ $LAB__KEY != q ]] || lab__quit
}

# lab_step_skip N: count N steps this run cannot play (with one CPU, say) as played.
lab_step_skip() { LAB_STEP=$((LAB_STEP + $1)); }

# lab_caption PANE TEXT: TEXT as "# ..." comment lines: headless printed, with --tmux typed into
# PANE at its shell's prompt (a running program would take them as input), wrapped at its width.
lab_caption() {
    local pane=${LAB__PANE[$1]:-} width line before
    if ((LAB_DEMO_TMUX == 0)); then
        lab__show
        lab_wrap "$LAB__WIDTH" "# " "# " "$LAB__BOLD" "$2"
        return 0
    fi
    ! lab__tmux_running "$1" || lab_die "no caption can be typed into the ${LAB__NAME[$1]} pane: a command runs there ($2)"
    width=$(lab_tmux display-message -p -t "$pane" '#{pane_width}')
    width=$((width - ${#LAB__NAME[$1]} - 3))
    while IFS= read -r line; do
        # the prompt after a comment line adds a line to the status file: wait for it, or it
        # could come after the next command's start and seem to be its end
        before=$(wc -l <"${LAB__STATUS[$1]}")
        lab_tmux send-keys -t "$pane" -l -- "$line"
        lab_tmux send-keys -t "$pane" Enter
        lab__tmux_wait_status "$1" "$before" 10 || lab_abort "the ${LAB__NAME[$1]} pane's shell did not take a caption"
        lab_pause
    done < <(lab_wrap "$((width < 20 ? 20 : width))" "# " "# " "" "$2")
}

LAB__KEY=""        # the key lab__step_key read: go or q
LAB__STEP_PANE=""  # with --step when attached: the pane that shows the prompt and reads the key
LAB__STEP_IN=""    # the FIFOs to and from that pane
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
            lab__tmux_client_check
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

# lab__quit: q was pressed: end the demo; the exit trap stops and removes what it started.
lab__quit() {
    lab__restore_output
    echo
    lab_say "$LAB_SCRIPT: ended with q at step $LAB_STEP of ${#LAB_STEPS[@]}: what it started is stopped and removed"
    exit $((LAB_FAILED > 0 ? 1 : 0))
}

# ----------------------------------------------------------------------------------------------
# The player

# lab_panes TOPIC LEFT RIGHT [vertical]: the two panes, named LEFT and RIGHT (L and R in the
# screenplay; with vertical, one above the other); with --tmux the window opens here.
lab_panes() {
    LAB__NAME=([L]=$2 [R]=$3) LAB__WHERE=([L]=left [R]=right)
    [[ ${4:-} != vertical ]] || LAB__WHERE=([L]=above [R]=below)
    if ((LAB_DEMO_TMUX)); then lab__tmux_start "$1" "${4:-}"; else mkfifo "$LAB_WORK/in.L" "$LAB_WORK/in.R"; fi
}

# lab__line PANE WORD...: the words as PANE's command line (LAB__CMD): each word with a character
# the shell treats specially in single quotes, but $? (the last status, with --tmux: echo $?).
lab__line() {
    local p=$1 word plain='^([A-Za-z0-9_./:=,+%@-]+|[$][?])$'
    shift
    LAB__CMD[$p]=""
    for word in "$@"; do
        [[ $word =~ $plain ]] || word="'${word//\'/\'\\\'\'}'"
        LAB__CMD[$p]+="${LAB__CMD[$p]:+ }$word"
    done
}

# lab_run PANE CMD...: start CMD in PANE (L or R). Headless its pid is in LAB_PID; with --tmux,
# for one of our programs, once seen (empty otherwise).
lab_run() {
    local p=$1 n
    shift
    lab__line "$p" "$@"
    if ((LAB_DEMO_TMUX)); then
        lab__tmux_run "$p" "$@"
        return 0
    fi
    lab__show
    lab_cmd "${LAB__CMD[$p]}"
    LAB__RUNS=$((LAB__RUNS + 1))
    n=$LAB__RUNS
    # stdin: the pane's FIFO held open here for reading and writing (fd 7 for L, 8 for R): opening
    # it does not wait, a write never fails, and closing it is the end of the input
    if [[ $p == L ]]; then exec 7<>"$LAB_WORK/in.L"; else exec 8<>"$LAB_WORK/in.R"; fi
    "$@" <"$LAB_WORK/in.$p" >"$LAB_WORK/out.$n" 2>&1 7>&- 8>&- &
    LAB_PID=$!
    LAB__PROC[$p]=$LAB_PID LAB__OUT[$p]=$LAB_WORK/out.$n
    LAB__PIDS+=("$LAB_PID")
}

# lab_again PANE CMD...: run PANE's last command, CMD, again: with --tmux recalled (Up, Enter).
lab_again() {
    ((LAB_DEMO_TMUX)) || {
        lab_run "$@"
        return 0
    }
    lab__tmux_mark "$1"
    lab_tmux send-keys -t "${LAB__PANE[$1]}" Up
    lab_pause
    lab_tmux send-keys -t "${LAB__PANE[$1]}" Enter
    lab_pause
}

# lab__show: headless, the lines the panes' commands printed since the last look, labelled; all
# of an ended one's.
lab__show() {
    local p all
    ((LAB_DEMO_TMUX == 0)) || return 0
    for p in L R; do
        [[ -n ${LAB__OUT[$p]:-} ]] || continue
        all=""
        lab_alive "${LAB__PROC[$p]}" || all=--all
        lab__show_new "${LAB__NAME[$p]}" "${LAB__OUT[$p]}" $all
    done
}

# lab__tick N END: the Nth look while waiting until END (microseconds since the epoch): false once
# past it. Headless, the new output shown; with --tmux, whether the person watching is still
# there. Then a nap: 1 ms, doubling each time, at most 50 ms.
lab__tick() {
    local ms=50
    ((${EPOCHREALTIME//[!0-9]/} < $2)) || return 1
    lab__show
    lab__tmux_client_check
    (($1 > 5)) || ms=$((1 << $1))
    printf -v ms '0.%03d' "$ms"
    lab_nap "$ms"
}

# lab_busy PANE: true while PANE's last command runs.
lab_busy() {
    if ((LAB_DEMO_TMUX)); then lab__tmux_running "$1"; else lab_alive "${LAB__PROC[$1]}"; fi
}

# lab__lines PANE: what PANE's last command printed so far (stdout and stderr), without colours,
# in LAB__LINES; with --tmux, the pane's screen below the command line.
LAB__LINES=()
lab__lines() {
    LAB__LINES=()
    if ((LAB_DEMO_TMUX)); then
        mapfile -t LAB__LINES < <(lab__tmux_screen "$1" | tail -n +"$((${LAB__MARK[$1]} + 1))")
    elif [[ -f ${LAB__OUT[$1]} ]]; then
        mapfile -t LAB__LINES <"${LAB__OUT[$1]}"
        LAB__LINES=("${LAB__LINES[@]//$'\e'\[*([0-9;])m/}")
    fi
}

# lab_output PANE FILE: what PANE's last command printed so far, into FILE.
lab_output() {
    lab__lines "$1"
    printf '%s\n' "${LAB__LINES[@]}" >"$2"
}


# lab_await PANE REGEX [SECS]: wait up to SECS (10) for a line of PANE's last command's output
# matching the extended REGEX: the line in LAB_LINE, its groups in LAB_MATCH. When the time runs
# out, or the command ends without it, the play stops (lab_abort).
lab_await() {
    local p=$1 re=$2 secs=${3:-10} ended=0 i=0 end
    end=$((${EPOCHREALTIME//[!0-9]/} + secs * 1000000))
    while :; do
        lab_busy "$p" || ended=1
        lab__lines "$p"
        for LAB_LINE in "${LAB__LINES[@]}"; do
            [[ $LAB_LINE =~ $re ]] || continue
            LAB_MATCH=("${BASH_REMATCH[@]}")
            return 0
        done
        ((ended == 0)) || lab_abort "[${LAB__NAME[$p]}] ${LAB__CMD[$p]} ended without a line like /$re/"
        lab__tick $((i++)) "$end" || lab_abort "[${LAB__NAME[$p]}] ${LAB__CMD[$p]}: no line like /$re/ within $secs s"
    done
}

# lab_end PANE [STATUS [SECS]]: wait up to SECS (10) for PANE's last command to end (else the play
# stops) and check its exit status (STATUS, 0 by default); the status is in LAB_RC.
lab_end() {
    local p=$1 want=${2:-0} secs=${3:-10} i=0 end
    if ((LAB_DEMO_TMUX)); then
        lab__tmux_wait_status "$p" "${LAB__SENT[$p]}" "$secs" ||
            lab_abort "[${LAB__NAME[$p]}] ${LAB__CMD[$p]} still runs after $secs s"
        LAB_RC=$(sed -n "$((${LAB__SENT[$p]} + 1))p" "${LAB__STATUS[$p]}")
    else
        end=$((${EPOCHREALTIME//[!0-9]/} + secs * 1000000))
        while lab_alive "${LAB__PROC[$p]}"; do
            lab__tick $((i++)) "$end" && continue
            lab_stop "${LAB__PROC[$p]}"
            lab_abort "[${LAB__NAME[$p]}] ${LAB__CMD[$p]} still ran after $secs s: stopped"
        done
        LAB_RC=0
        wait "${LAB__PROC[$p]}" 2>/dev/null || LAB_RC=$?
        lab__untrack "${LAB__PROC[$p]}"
        lab__show
    fi
    if [[ $LAB_RC == "$want" ]]; then
        lab_pass "[${LAB__NAME[$p]}] ${LAB__CMD[$p]}: status $LAB_RC"
    else
        lab_fail "[${LAB__NAME[$p]}] ${LAB__CMD[$p]}: status $LAB_RC, expected $want"
    fi
}

# lab_type PANE TEXT: type TEXT and Enter into PANE's running command (lab_type PANE "" presses
# Enter); headless, a line written to its input, and shown.
lab_type() {
    if ((LAB_DEMO_TMUX)); then
        lab_pause 5
        lab__tmux_type "$1" "$2"
        lab_tmux send-keys -t "${LAB__PANE[$1]}" Enter
        lab_pause
        return 0
    fi
    lab__show
    printf '[%s] %s(typed: %s)%s\n' "${LAB__NAME[$1]}" "$LAB__BOLD" "${2:-Enter}" "$LAB__RESET"
    if [[ $1 == L ]]; then printf '%s\n' "$2" >&7; else printf '%s\n' "$2" >&8; fi
}

# lab_key PANE C-c|C-d: Ctrl-C (headless: SIGINT to the command's process and its descendants, as
# a terminal sends it to its foreground job) or Ctrl-D (headless: the end of its input).
lab_key() {
    local -a pids
    local key=${2#C-}
    if ((LAB_DEMO_TMUX)); then
        lab_tmux send-keys -t "${LAB__PANE[$1]}" "$2"
        lab_pause
        return 0
    fi
    lab__show
    printf '[%s] %s^%s%s\n' "${LAB__NAME[$1]}" "$LAB__BOLD" "${key^^}" "$LAB__RESET"
    case $2 in
    C-c)
        mapfile -t pids < <(lab__descendants "${LAB__PROC[$1]}")
        kill -INT "${pids[@]}" "${LAB__PROC[$1]}" 2>/dev/null || true
        ;;
    C-d) if [[ $1 == L ]]; then exec 7>&-; else exec 8>&-; fi ;;
    esac
}

# lab_expect PANE TEXT...: the check that PANE's last command printed each TEXT (part of a line),
# in this order.
lab_expect() {
    local p=$1 missing
    shift
    # through the environment: awk -v would read backslashes as escapes
    lab__lines "$p"
    missing=$(printf '%s\n' "${LAB__LINES[@]}" | LAB__WANT=$(printf '%s\n' "$@") awk '
        BEGIN { n = split(ENVIRON["LAB__WANT"], want, "\n") }
        { while (i < n && index($0, want[i + 1])) i++ }
        END { if (i < n) print want[i + 1] }')
    if [[ -z $missing ]]; then
        lab_pass "[${LAB__NAME[$p]}] ${LAB__CMD[$p]} printed, in order: $(printf '%s; ' "$@" | sed 's/; $//')"
    else
        lab_fail "[${LAB__NAME[$p]}] ${LAB__CMD[$p]} did not print (in this order, of $#): $missing"
    fi
}

# lab_stopped PANE PID: the check that PANE's command, process PID, was stopped (kill -STOP): its
# state T; with --tmux also its shell's report.
lab_stopped() {
    if lab_wait_state "$2" T 5; then
        lab_pass "process $2 is stopped (state T in /proc/$2/stat)"
    else
        lab_fail "process $2 is not stopped (state ${LAB_STATE:-gone})"
    fi
    ((LAB_DEMO_TMUX)) || return 0
    # its shell takes the terminal back: status 147 = 128 + 19 (SIGSTOP), and "[1]+ Stopped"
    lab_end "$1" 147
    lab_expect "$1" "Stopped"
}

# lab_fg PANE PID: after SIGCONT, the check that process PID runs again; with --tmux, fg typed into
# PANE first gives the job its terminal back (lab_end PANE then waits for it).
lab_fg() {
    ((LAB_DEMO_TMUX == 0)) || lab_run "$1" fg
    if lab_wait_state "$2" RSD 5; then
        lab_pass "process $2 runs again (state $LAB_STATE, no longer T)"
    else
        lab_fail "process $2 should run again (state ${LAB_STATE:-gone})"
    fi
}

# lab_pane_pid PANE: print the pid of the process that runs PANE's commands: with --tmux its shell;
# headless, the last command's own (bash's subshell for a builtin such as kill).
lab_pane_pid() {
    if ((LAB_DEMO_TMUX)); then
        lab_tmux display-message -p -t "${LAB__PANE[$1]}" '#{pane_pid}'
    else
        echo "${LAB__PROC[$1]}"
    fi
}

# ----------------------------------------------------------------------------------------------
# tmux: one window of two panes, each a plain interactive bash with a short prompt, the binaries
# first on PATH and PROMPT_COMMAND writing each status to a file. The window is, by
# LAB_TMUX_MODE: detached (no terminal, or --detached: a private server, its own socket and no
# user configuration, the screens printed at the end); attach (from a terminal outside tmux: that
# server, attached while the play goes on); window (inside tmux: a window of the user's session).

LAB_TMUX_MODE=""
LAB__TMUX_ON=""      # private or user: the server lab_tmux talks to; empty once it is gone
LAB__SOCKET=""       # the private server's socket name (tmux -L), and its path
LAB__SOCKET_PATH=""
LAB__SESSION=""
LAB__WINDOW=""
LAB__CLIENT=""       # attach mode: the tmux client, in the background on this terminal
LAB__OUT_FD=""       # attach mode: this script's stdout and stderr while its own go to a log
LAB__ERR_FD=""

# lab_tmux ARGS...: tmux on the demo's server (the private one, or in window mode the user's).
# Fails once the window or server is gone, so that nothing reaches another server.
lab_tmux() {
    case $LAB__TMUX_ON in
    private) tmux -L "$LAB__SOCKET" -f /dev/null "$@" ;;
    user) tmux "$@" ;;
    *) return 1 ;;
    esac
}

# lab_tmux_interactive: true when the panes will be shown (stdin and stdout are terminals, and
# no --detached).
lab_tmux_interactive() { [[ -t 0 && -t 1 && ${IPC_LAB_DETACHED:-0} != 1 ]]; }

# lab__tmux_start TOPIC [vertical]: open the window, its two panes' shells in the project root,
# and say where it is shown and how to leave it.
lab__tmux_start() {
    local topic=$1 split=-h p rc pane="" prefix hello=""
    local -a env=() shell
    [[ ${2:-} != vertical ]] || split=-v
    LAB_TMUX_MODE=detached
    if lab_tmux_interactive; then
        if [[ -n ${TMUX:-} ]]; then LAB_TMUX_MODE=window; else LAB_TMUX_MODE=attach; fi
    fi
    # the user's server has its own environment: the run's tag (IPC_LAB_RUN) is passed on
    [[ -z ${IPC_LAB_RUN:-} ]] || env=(-e "IPC_LAB_RUN=$IPC_LAB_RUN")
    for p in L R; do
        rc=$LAB_WORK/tmux-$p.bashrc LAB__STATUS[$p]=$LAB_WORK/tmux-$p.status
        : >"${LAB__STATUS[$p]}"
        {
            printf 'PS1=%q\n' "${LAB__NAME[$p]}\$ "
            # no history file, captions (comments) out of the history, no ! expansion in them
            echo "HISTFILE= HISTIGNORE='#*'; set +H"
            # shellcheck disable=SC2016 # $PATH is for the pane's shell to expand
            printf 'PATH=%q:$PATH\n' "$LAB_BIN"
            printf 'PROMPT_COMMAND=%q\n' "echo \$? >>$(printf '%q' "${LAB__STATUS[$p]}")"
        } >"$rc"
        shell=(bash --noprofile --rcfile "$rc" -i)
        if [[ $p == R ]]; then
            pane=$(lab_tmux split-window "$split" -P -F '#{pane_id}' -t "${LAB__PANE[L]}" "${env[@]}" \
                -c "$LAB_ROOT" "${shell[@]}") || true
        elif [[ $LAB_TMUX_MODE == window ]]; then
            LAB__TMUX_ON=user
            read -r pane LAB__WINDOW < <(lab_tmux new-window -P -F '#{pane_id} #{window_id}' \
                "${env[@]}" -n "ipc-lab-$topic" -c "$LAB_ROOT" "${shell[@]}") || true
            lab_tmux set-option -w -t "$LAB__WINDOW" automatic-rename off >/dev/null 2>&1 || true
        else
            LAB__TMUX_ON=private LAB__SOCKET=ipc-lab-$topic-$$ LAB__SESSION=$topic-$$
            read -r pane LAB__WINDOW < <(lab_tmux new-session -d -P -F '#{pane_id} #{window_id}' \
                -s "$LAB__SESSION" -n "$topic" -x 160 -y 36 -c "$LAB_ROOT" "${shell[@]}") || true
            LAB__SOCKET_PATH=$(lab_tmux display-message -p '#{socket_path}' 2>/dev/null) || true
        fi
        [[ -n $pane ]] || lab_die "tmux could not open the ${LAB__NAME[$p]} pane"
        LAB__PANE[$p]=$pane pane=""
        lab_tmux select-pane -t "${LAB__PANE[$p]}" -T "${LAB__NAME[$p]}"
    done
    lab_tmux set-option -w -t "$LAB__WINDOW" pane-border-status top >/dev/null
    lab_tmux set-option -w -t "$LAB__WINDOW" pane-border-format ' #{pane_title} ' >/dev/null
    pane=${LAB__PANE[L]}
    if ((LAB_STEP_MODE)) && [[ $LAB_TMUX_MODE != detached && -z ${IPC_LAB_STEP_KEYS:-} ]]; then
        # a pane of a few lines across the bottom shows the next step and reads the key
        mkfifo "$LAB_WORK/step.in" "$LAB_WORK/step.out"
        LAB__STEP_PANE=$(lab_tmux split-window -v -f -l 4 -P -F '#{pane_id}' -t "$pane" \
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
        hello="the demo plays in a new window of your tmux session, ipc-lab-$topic: $prefix then l goes back to the window you came from (and back again); it closes when the demo ends"
        lab_say "$hello"
        ;;
    attach)
        hello="the demo's own tmux session: Ctrl-b d leaves it early (and stops the demo); it closes when the demo ends"
        lab_say "attaching to $hello"
        sleep 1
        # the client in the background, on this terminal; this script's output to a log meanwhile
        exec {LAB__OUT_FD}>&1 {LAB__ERR_FD}>&2
        tmux -L "$LAB__SOCKET" -f /dev/null attach-session -t "$LAB__SESSION" <&0 &
        LAB__CLIENT=$!
        exec >"$LAB_WORK/play.log" 2>&1
        ;;
    *) lab_say "no terminal: the session runs detached (tmux -L $LAB__SOCKET), the screens follow" ;;
    esac
    for p in L R; do
        lab__tmux_wait_status "$p" 0 10 || lab_abort "the shell of the ${LAB__NAME[$p]} pane did not start"
    done
    [[ -z $hello ]] || lab_caption L "$hello"
}

# lab__tmux_client_check: in attach mode, when the person left the session (Ctrl-b d), the play
# stops: a failed check.
lab__tmux_client_check() {
    [[ -n $LAB__CLIENT ]] && ! lab_alive "$LAB__CLIENT" || return 0
    LAB__CLIENT=""
    lab__restore_output
    lab_warn "you left the session before the demo finished"
    lab_abort "the demo did not run to its end (the session was left early)"
}

# lab__restore_output: in attach mode, this script's stdout and stderr back, and the log of what
# it printed meanwhile.
lab__restore_output() {
    [[ -n $LAB__OUT_FD ]] || return 0
    exec >&"$LAB__OUT_FD" 2>&"$LAB__ERR_FD" {LAB__OUT_FD}>&- {LAB__ERR_FD}>&-
    LAB__OUT_FD=""
    cat "$LAB_WORK/play.log"
}

# lab__tmux_close [now]: after the last step, when a person watches, time to look (with --step,
# until a key; not with now); then the screens are saved, the window or server goes, and, when
# nobody watched, each screen is printed under its pane's name.
lab__tmux_close() {
    local p
    if [[ -z ${1:-} && $LAB_TMUX_MODE != detached ]]; then
        if ((LAB_STEP_MODE)); then
            lab__step_key "the end of the demo: a key closes it"
        else
            lab__tmux_running L ||
                lab_caption L "the end: this closes in $(lab__secs $((LAB__PACE_MS * 30))) s"
            lab_pause 30
        fi
    fi
    for p in L R; do
        lab__tmux_screen "$p" >"$LAB_WORK/$p.screen" 2>/dev/null || true
    done
    if [[ -n $LAB__CLIENT ]]; then
        lab_tmux detach-client -s "$LAB__SESSION" >/dev/null 2>&1 || true
        lab_wait_gone "$LAB__CLIENT" 5 || true
        LAB__CLIENT=""
        lab__restore_output
    fi
    lab__tmux_kill
    [[ $LAB_TMUX_MODE == detached ]] || return 0
    for p in L R; do
        lab_heading "The ${LAB__NAME[$p]} pane (${LAB__WHERE[$p]})"
        cat "$LAB_WORK/$p.screen"
    done
}

# lab__tmux_kill: close the demo's window (window mode), or kill its private server (and so its
# panes' shells, which hang up their jobs) and remove its socket.
lab__tmux_kill() {
    case $LAB__TMUX_ON in
    user) lab_tmux kill-window -t "$LAB__WINDOW" >/dev/null 2>&1 || true ;;
    private)
        lab_tmux kill-server >/dev/null 2>&1 || true
        [[ -z $LAB__SOCKET_PATH ]] || rm -f "$LAB__SOCKET_PATH"
        ;;
    esac
    LAB__TMUX_ON=""
}

# lab__tmux_screen PANE: the pane's history and screen, wrapped lines joined, trailing blanks and
# empty lines at the end removed.
lab__tmux_screen() {
    lab_tmux capture-pane -p -J -S - -t "${LAB__PANE[$1]}" |
        awk '{ sub(/[ \t]+$/, ""); line[NR] = $0 } $0 != "" { last = NR }
            END { for (i = 1; i <= last; i++) print line[i] }'
}

# lab__tmux_mark PANE: the next command typed into PANE starts here: its status is the next line
# of the status file, its output the screen's lines below the current last one (the prompt).
lab__tmux_mark() {
    LAB__SENT[$1]=$(wc -l <"${LAB__STATUS[$1]}")
    LAB__MARK[$1]=$(lab__tmux_screen "$1" | wc -l)
}

# lab__tmux_running PANE: true while the command typed last into PANE has not ended.
lab__tmux_running() { (($(wc -l <"${LAB__STATUS[$1]}") <= ${LAB__SENT[$1]:-0})); }

# lab__tmux_wait_status PANE N SECS: wait up to SECS for PANE's status file to have more than N
# lines (a prompt after the command that N counted up to).
lab__tmux_wait_status() {
    local end=$((${EPOCHREALTIME//[!0-9]/} + $3 * 1000000)) i=0
    while (($(wc -l <"${LAB__STATUS[$1]}") <= $2)); do
        lab__tick $((i++)) "$end" || return 1
    done
}

# lab__tmux_type PANE TEXT: type TEXT a word at a time (no Enter), at the pace.
lab__tmux_type() {
    local word first=1
    local -a words
    read -r -a words <<<"$2"
    for word in "${words[@]}"; do
        ((first)) || lab_tmux send-keys -t "${LAB__PANE[$1]}" Space
        first=0
        lab_tmux send-keys -t "${LAB__PANE[$1]}" -l -- "$word"
        lab_pause
    done
}

# lab__tmux_run PANE CMD...: type the command line at PANE's prompt and press Enter; for one of our
# programs, LAB_PID is its process once seen (the shell's new child).
lab__tmux_run() {
    local p=$1 pane=${LAB__PANE[$1]} shell tries=500
    lab__tmux_mark "$p"
    lab__tmux_type "$p" "${LAB__CMD[$p]}"
    # A line that ends exactly at the right margin leaves the cursor on the next row and the row
    # marked wrapped: capture-pane -J would join the first line of output to it. A trailing
    # space, which the shell ignores, moves the end off the margin.
    [[ $(lab_tmux display-message -p -t "$pane" '#{cursor_x}') != 0 ]] || lab_tmux send-keys -t "$pane" Space
    LAB_PID=""
    if [[ -x $LAB_BIN/$2 ]]; then
        shell=$(lab_tmux display-message -p -t "$pane" '#{pane_pid}')
        lab_tmux send-keys -t "$pane" Enter
        while [[ -z $LAB_PID ]] && lab__tmux_running "$p" && ((tries-- > 0)); do
            lab_children "$shell"
            LAB_PID=${LAB_FOUND[0]:-}
            [[ -n $LAB_PID ]] || lab_nap 0.004
        done
    else
        lab_tmux send-keys -t "$pane" Enter
    fi
    lab_pause
}
