#!/usr/bin/env bash
# The pipe demo (lecture notes B3): the notes' program, a named pipe between two unrelated
# processes, and the blocking timeline of a full and an empty pipe.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--pace SECS] [--step] [--bin-dir DIR]

The pipe demo (lecture notes B3), in three parts:
  1. the notes' program: the parent writes "Hello There!" into a pipe, the child reads it and
     prints "Proc 0 read: Hello There!"; then again with --explain;
  2. a named pipe (FIFO) between two processes that are not parent and child: pipe-demo fifo-read
     makes the FIFO (a path of this run's own) and waits in open() for a writer; ls -l shows it;
     pipe-demo fifo-write --explain opens it and writes two lines; the reader prints them, sees
     end of file when the writer closes, and removes the FIFO it made;
  3. the blocking timeline (pipe-demo blocking): a writer blocks on a full pipe until a slow
     reader makes room, then the reader blocks on an empty pipe until the writer writes.

Options:
  (none)          Headless: the programs run here as processes; their output is labelled
                  [pipe-demo], [ls], [reader], [writer] and [timeline] and checked.
  --tmux          Two tmux panes, reader left, writer right, the commands typed as a person
                  would: the notes' program (right: with --explain), then the FIFO reader left,
                  ls -l and the writer right, its lines typed on its standard input and ended
                  with Ctrl-D; then the timeline left while ps on the right (ps -t: the left
                  terminal's processes) shows, twice, where each one sleeps (WCHAN): the writer
                  in pipe_write, then the reader in pipe_read.
$(lab_options_help)

Checks: the notes' program prints exactly "Proc 0 read: Hello There!" (with --explain too) and
exits 0; the FIFO reader's stdout is exactly the lines written, both sides exit 0 and the FIFO is
gone afterwards; the timeline, times left out, is exactly: writes #1 to #4, write #5 blocks, the
reader reads, write #5 returns, the reader reads everything, its read blocks, the writer writes
100 bytes, the read returns 100 bytes, end of file; and both waits lasted at least half the
reader's delay. With --tmux also: ps found the processes, asleep in pipe_write and then in
pipe_read (unless the kernel hides WCHAN). On an error, Ctrl-C, SIGTERM or SIGHUP the programs it
started are stopped and the FIFO removed. Exit status: 0 when every check passed, 1 when one
failed, 2 for a usage error.

Examples:
  scripts/demo-pipe.sh                    headless, builds first if needed
  scripts/demo-pipe.sh --tmux --step      watch it typed into two panes, a key before each step
  scripts/demo-pipe.sh --bin-dir target/release
EOF
}

HELLO="Proc 0 read: Hello There!"
MESSAGES=("Hello There!" "a named pipe joins two unrelated processes")
DELAY=0.5        # the reader's delay in the headless timeline (it takes about 3 x DELAY)
TMUX_DELAY=1     # with --tmux (2 when attached): time for ps to look while a side is blocked
FIFO=""          # this run's FIFO, in the work directory (set in main)
PS_CMD=""        # with --tmux: ps for the processes of the left pane's terminal (set in with_tmux)
LAB_STEPS=(
    "the notes' program: the parent writes Hello There! into a pipe, the child reads it and prints what it got"
    "the same with --explain: each call narrated on stderr, stdout unchanged"
    "a named pipe (FIFO): the reader makes it and opens it to read; open waits until a process opens it to write"
    "ls -l: the p at its start says FIFO; the reader still waits in open()"
    "a writer, not the reader's parent or child, opens the FIFO by its name and writes two lines; the reader prints them, and sees end of file when the writer closes its end"
    "blocking: the writer fills the pipe and blocks in write() until the slow reader makes room; then the reader blocks in read() on the empty pipe until the writer writes"
)

# ----------------------------------------------------------------------------------------------
# Checks shared by both modes

# check_timeline WHAT FILE DELAY: FILE is the stdout of pipe-demo blocking --delay DELAY. It must
# start with the pipe's size and the reader's delay, and both waits must have lasted DELAY/2 or more:
# what a shell can see of a real run. The events' exact words and order are tests/pipe.rs's to check.
check_timeline() {
    local what=$1 file=$2 delay=$3 header re waits
    lab_plain <"$file" | sed 's/[[:space:]]*$//' >"$file.plain"
    header=$(sed -n 1p "$file.plain")
    re="^a pipe of [0-9]+ bytes: [0-9]+ slots of one page \\([0-9]+ bytes\\) each; the writer writes [0-9]+ x [0-9]+ bytes, the reader waits $delay s before reading\$"
    if ! [[ $header =~ $re ]]; then
        lab_fail "$what does not start with the pipe's size and the reader's delay; its first line: ${header:-(nothing)}"
        return 0
    fi
    lab_pass "$what starts with the pipe's size and the reader's delay ($delay s)"

    waits=$(sed -nE 's/.*(write #[0-9]+ returns|read returns [0-9]+ bytes) after ([0-9.]+) s.*/\2/p' \
        "$file.plain" | paste -sd ' ')
    if awk -v d="$delay" -v w="$waits" 'BEGIN { n = split(w, a, " "); if (n != 2) exit 1
            for (i = 1; i <= n; i++) if (a[i] + 0 < d / 2) exit 1 }'; then
        lab_pass "$what: the write waited ${waits% *} s, the read ${waits#* } s (each at least $delay/2 s): both really blocked"
    else
        lab_fail "$what: the blocked write and read should each wait at least $delay/2 s; waits seen: ${waits:-none}"
    fi
}

# ----------------------------------------------------------------------------------------------
# Headless

# run_notes NAME [--explain]: the notes' program; its stdout checked exactly.
run_notes() {
    local out=$LAB_WORK/$1.out err=$LAB_WORK/$1.err rc cmd=pipe-demo
    local -a args=()
    [[ -z ${2:-} ]] || args=("$2") cmd="pipe-demo $2"
    lab_step
    lab_cmd "$cmd"
    lab_spawn_split "$out" "$err" /dev/null "$LAB_BIN/pipe-demo" "${args[@]}"
    lab_wait_exit "$LAB_PID" 10 pipe-demo || true
    rc=$LAB_RC
    lab_show pipe-demo "$err"
    lab_show pipe-demo "$out"
    echo
    lab_check_output "$cmd's stdout" "$out" "$HELLO" || true
    if ((${#args[@]} == 0)); then
        if [[ -s $err ]]; then
            lab_fail "pipe-demo printed on stderr; the notes' program prints nothing there"
        else
            lab_pass "pipe-demo printed nothing on stderr, as the notes' program"
        fi
    fi
    lab_check_status "$cmd" "$rc" || true
}

fifo_pair() {
    local rout=$LAB_WORK/reader.out rerr=$LAB_WORK/reader.err wout=$LAB_WORK/writer.out
    local rpid rrc wrc
    lab_step
    lab_cmd "pipe-demo fifo-read $FIFO &"
    lab_spawn_split "$rout" "$rerr" /dev/null "$LAB_BIN/pipe-demo" fifo-read "$FIFO"
    rpid=$LAB_PID
    if ! lab_wait_line "$rerr" 'open waits until a writer opens it' 10 "$rpid"; then
        lab_show_new reader "$rerr" --all
        lab_show reader "$rout"
        lab_fail "pipe-demo fifo-read did not get to wait for a writer on $FIFO"
        return 0
    fi
    lab_show_new reader "$rerr"
    lab_step
    lab_cmd "ls -l $FIFO"
    # shellcheck disable=SC2012 # ls -l is the point: its first letter, p, says FIFO
    ls -l "$FIFO" 2>&1 | lab_label ls
    if [[ -p $FIFO ]]; then
        lab_pass "the reader made $FIFO a FIFO (p at the start of ls -l: a named pipe)"
    else
        lab_fail "$FIFO is not a FIFO"
    fi
    if lab_alive "$rpid" && [[ ! -s $rout ]]; then
        lab_pass "the reader still runs and has printed nothing: its open() waits for a writer"
    else
        lab_fail "the reader should still wait in open(): no writer has opened $FIFO yet"
    fi

    echo
    lab_step
    lab_cmd "pipe-demo fifo-write --explain $FIFO$(printf " '%s'" "${MESSAGES[@]}")"
    lab_spawn "$wout" /dev/null "$LAB_BIN/pipe-demo" fifo-write --explain "$FIFO" "${MESSAGES[@]}"
    lab_wait_exit "$LAB_PID" 10 "pipe-demo fifo-write" || true
    wrc=$LAB_RC
    lab_show writer "$wout"
    lab_wait_exit "$rpid" 10 "pipe-demo fifo-read" || true
    rrc=$LAB_RC
    lab_show_new reader "$rerr" --all
    lab_show reader "$rout"

    echo
    lab_check_output "the reader's stdout" "$rout" "${MESSAGES[@]}" || true
    lab_check_status "pipe-demo fifo-write" "$wrc" || true
    lab_check_status "pipe-demo fifo-read" "$rrc" || true
    lab_check_path_gone "$FIFO" "the reader's FIFO" || true
}

timeline() {
    local out=$LAB_WORK/blocking.out err=$LAB_WORK/blocking.err rc
    lab_step
    lab_cmd "pipe-demo blocking --delay $DELAY"
    lab_spawn_split "$out" "$err" /dev/null "$LAB_BIN/pipe-demo" blocking --delay "$DELAY"
    lab_follow timeline "$out" "$LAB_PID" 15 "pipe-demo blocking" || true
    rc=$LAB_RC
    lab_show timeline "$err"
    echo
    check_timeline "the timeline" "$out" "$DELAY"
    lab_check_status "pipe-demo blocking" "$rc" || true
}

headless() {
    lab_heading "Pipes (notes B3): the notes' program"
    lab_say "The parent makes a pipe and forks; it writes \"Hello There!\" into the write end, the" \
        "child reads the read end and prints what it got (and the parent waits for the child)."
    run_notes plain

    lab_heading "The same with --explain: each call narrated on stderr, stdout unchanged"
    run_notes explain --explain

    lab_heading "A named pipe (FIFO): a reader and a writer that are not parent and child"
    lab_say "A pipe has no name, so only related processes share it. A FIFO has a path: the reader" \
        "makes it (mkfifo) and opens it to read; open waits until some process opens it to write."
    fifo_pair

    lab_heading "Blocking: a writer waits on a full pipe, a reader on an empty one"
    lab_say "The writer (the child) writes a page at a time into a pipe of 4 pages; the reader (the" \
        "parent) waits $DELAY s before it reads. Each line: the time, who, and what happens."
    timeline
}

# ----------------------------------------------------------------------------------------------
# tmux

# ere TEXT: TEXT as an extended regular expression matching it literally (for tmux_driver).
# shellcheck disable=SC2317
ere() {
    printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'
}

# Types the three parts into the panes; writes the exit statuses to files, since it may run in a
# background subshell. Called through lab_tmux_play.
# shellcheck disable=SC2317
tmux_driver() {
    local left=$LAB_TMUX_LEFT right=$LAB_TMUX_RIGHT m

    # 1. the notes' program
    lab_step "$left"
    lab_tmux_run "$left" "pipe-demo"
    lab_tmux_wait_done "$left" 10 || return 1
    lab_tmux_save_rc notes
    lab_step "$right"
    lab_tmux_run "$right" "pipe-demo --explain"
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc explain

    # 2. a named pipe: the reader left, ls and the writer right, its lines typed on its stdin
    lab_step "$left"
    lab_tmux_run "$left" "pipe-demo fifo-read $FIFO"
    lab_tmux_wait_text "$left" 'open waits until a writer opens it' 10 || return 1
    lab_step "$right"
    lab_tmux_run "$right" "ls -l $FIFO"
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc ls
    lab_step "$right"
    lab_tmux_run "$right" "pipe-demo fifo-write --explain $FIFO"
    lab_tmux_wait_text "$right" 'to write: open waits until a reader opens it' 10 || return 1
    for m in "${MESSAGES[@]}"; do
        lab_pause 5
        lab_tmux_type "$right" "$m"
        lab_tmux_enter "$right"
        lab_tmux_wait_text "$left" "^$(ere "$m")\$" 10 || return 1
    done
    lab_pause 5
    # Ctrl-D ends the writer's input, but only while it runs: at the prompt it would close the pane
    lab_tmux_running "$right" || return 1
    lab_tmux_key "$right" C-d
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc writer
    lab_tmux_wait_done "$left" 10 || return 1
    lab_tmux_save_rc reader

    # 3. the blocking timeline left; ps right, Enter pressed while one side is blocked
    lab_step "$left"
    lab_tmux select-pane -t "$left" -T "reader: pipe-demo blocking (the writer is its child)"
    lab_tmux select-pane -t "$right" -T "writer: ps shows where each one sleeps (WCHAN)"
    lab_tmux_prepare "$right" "$PS_CMD"
    lab_tmux_run "$left" "pipe-demo blocking --delay $TMUX_DELAY"
    lab_tmux_wait_text "$left" 'no free slot: write blocks' 10 || return 1
    lab_tmux_enter "$right"
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc ps1
    lab_tmux_mark "$right"
    lab_tmux_key "$right" Up
    lab_tmux_wait_text "$left" 'read blocks until the writer writes' 10 || return 1
    lab_tmux_enter "$right"
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc ps2
    lab_tmux_wait_done "$left" 15 || return 1
    lab_tmux_save_rc blocking
    # the screens now, in case the panes are closed before the session ends
    lab_tmux_capture "$left" "$LAB_WORK/left.screen" || true
    lab_tmux_capture "$right" "$LAB_WORK/right.screen" || true
}

# check_ps WHAT FILE SYMBOL ROLE WHO: FILE is what ps printed while WHO was blocked: a pipe-demo
# blocking process of ROLE (parent: the reader, child: the writer, told apart by PID and PPID)
# must be asleep in a kernel function whose name holds SYMBOL. Kernels that hide WCHAN (shown as
# - or 0) leave that unchecked.
check_ps() {
    local what=$1 file=$2 symbol=$3 role=$4 who=$5 procs found
    procs=$(grep -F "pipe-demo blocking --delay $TMUX_DELAY" "$file" || true)
    if [[ -z $procs ]]; then
        lab_fail "$what lists no pipe-demo blocking process"
        return 0
    fi
    if ! awk '$4 != "-" && $4 != "0" { found = 1 } END { exit !found }' <<<"$procs"; then
        lab_pass "$what lists pipe-demo blocking (where it sleeps not checked: this kernel hides WCHAN)"
        return 0
    fi
    # columns: PID PPID STAT WCHAN ARGS; the child's PPID is its parent's PID
    found=$(awk -v s="$symbol" -v role="$role" '
        { pid[NR] = $1; ppid[NR] = $2; wchan[NR] = $4 }
        END {
            for (i = 1; i <= NR; i++) {
                if (!index(wchan[i], s)) continue
                for (j = 1; j <= NR; j++) {
                    if ((role == "child" && ppid[i] == pid[j]) || (role == "parent" && ppid[j] == pid[i])) {
                        print pid[i] " " wchan[i]; exit
                    }
                }
            }
        }' <<<"$procs")
    if [[ -n $found ]]; then
        lab_pass "$what: $who (pid ${found% *}, the $role) sleeps in ${found#* }"
    else
        lab_fail "$what: $who (the $role of the pair) is not shown asleep in $symbol"
    fi
}

with_tmux() {
    local screen_l=$LAB_WORK/left.screen screen_r=$LAB_WORK/right.screen tty
    lab_heading "Pipes (notes B3) in tmux: reader left, writer right"
    if lab_tmux_interactive; then TMUX_DELAY=2; fi
    lab_tmux_start pipe reader writer
    # ps -t: only the processes of the left pane's terminal (its shell and what runs there)
    tty=$(lab_tmux display-message -p -t "$LAB_TMUX_LEFT" '#{pane_tty}') ||
        lab_die "tmux did not tell the left pane's terminal"
    PS_CMD="ps -o pid,ppid,stat,wchan:20,args -t ${tty#/dev/}"
    lab_tmux_play tmux_driver
    local driver_rc=$LAB_RC

    lab_tmux_end "$screen_l" "$screen_r" \
        "The reader's pane (left)" "The writer's pane (right)"

    echo
    if lab_tmux_left_early "$driver_rc"; then
        lab_check_path_gone "$FIFO" "the FIFO" || true
        return 0
    fi
    if ((driver_rc != 0)); then
        lab_fail "the tmux demo did not run to its end"
    fi

    lab_screen_output "$screen_l" 'reader$' pipe-demo >"$LAB_WORK/notes.lines"
    lab_check_output "pipe-demo's output in the left pane" "$LAB_WORK/notes.lines" "$HELLO" || true
    lab_check_status pipe-demo "$(lab_tmux_rc notes)" || true
    lab_screen_output "$screen_r" 'writer$' "pipe-demo --explain" >"$LAB_WORK/explain.lines"
    lab_check_lines "pipe-demo --explain's narration in the right pane" "$LAB_WORK/explain.lines" \
        "[step 1] create the pipe: a bounded byte buffer in the kernel with two ends" || true
    # The child's stdout and the parent's narration (stderr) share the pane, and pipe-demo writes a
    # narration line's text and its newline apart: the child's line may land between the two.
    if grep -qF -- "$HELLO" "$LAB_WORK/explain.lines"; then
        lab_pass "pipe-demo --explain's output in the right pane holds: $HELLO"
    else
        lab_fail "pipe-demo --explain's output in the right pane lacks: $HELLO"
    fi
    lab_check_status "pipe-demo --explain" "$(lab_tmux_rc explain)" || true

    # the reader's stdout: its lines on the pane but its notes (stderr, pipe-demo: ...)
    lab_screen_output "$screen_l" 'reader$' "pipe-demo fifo-read $FIFO" |
        grep -v '^pipe-demo: ' >"$LAB_WORK/reader.lines" || true
    lab_check_output "the FIFO reader's output in the left pane" "$LAB_WORK/reader.lines" \
        "${MESSAGES[@]}" || true
    lab_screen_output "$screen_r" 'writer$' "ls -l $FIFO" >"$LAB_WORK/ls.lines"
    if [[ $(head -c 1 "$LAB_WORK/ls.lines") == p ]]; then
        lab_pass "ls -l in the right pane shows $FIFO a FIFO (p at the start: a named pipe)"
    else
        lab_fail "ls -l in the right pane does not show $FIFO a FIFO: $(head -n 1 "$LAB_WORK/ls.lines")"
    fi
    lab_check_status "ls -l" "$(lab_tmux_rc ls)" || true
    lab_screen_output "$screen_r" 'writer$' "pipe-demo fifo-write --explain $FIFO" >"$LAB_WORK/writer.lines"
    lab_check_lines "the FIFO writer's pane (the lines typed)" "$LAB_WORK/writer.lines" "${MESSAGES[@]}" || true
    lab_check_status "pipe-demo fifo-write" "$(lab_tmux_rc writer)" || true
    lab_check_status "pipe-demo fifo-read" "$(lab_tmux_rc reader)" || true
    lab_check_path_gone "$FIFO" "the reader's FIFO" || true

    lab_screen_output "$screen_l" 'reader$' "pipe-demo blocking --delay $TMUX_DELAY" \
        >"$LAB_WORK/timeline.lines"
    check_timeline "the timeline in the left pane" "$LAB_WORK/timeline.lines" "$TMUX_DELAY"
    lab_check_status "pipe-demo blocking" "$(lab_tmux_rc blocking)" || true
    lab_screen_output "$screen_r" 'writer$' "$PS_CMD" 1 >"$LAB_WORK/ps1.lines"
    lab_screen_output "$screen_r" 'writer$' "$PS_CMD" 2 >"$LAB_WORK/ps2.lines"
    check_ps "ps while the pipe was full" "$LAB_WORK/ps1.lines" pipe_write child "the writer"
    check_ps "ps while the pipe was empty" "$LAB_WORK/ps2.lines" pipe_read parent "the reader"
    lab_check_status "ps while full" "$(lab_tmux_rc ps1)" || true
    lab_check_status "ps while empty" "$(lab_tmux_rc ps2)" || true
}

# ----------------------------------------------------------------------------------------------

main() {
    lab_demo_start pipe-demo -- "$@"
    # a path of this run's own; pipe-demo makes the FIFO and removes it, and should it be stopped
    # too hard to do so, the work directory goes on exit with everything in it
    FIFO=$LAB_WORK/lab.fifo
    if ((LAB_DEMO_TMUX)); then
        with_tmux
    else
        headless
    fi
    lab_finish
}

main "$@"
