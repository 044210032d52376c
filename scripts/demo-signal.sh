#!/usr/bin/env bash
# The signal demo (lecture notes B4): the notes' SIGSEGV handler, the default action without it,
# and a process that reports every signal sent to it, stopped and continued on the way.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--pace SECS] [--step] [--bin-dir DIR]

The signal demo (lecture notes B4), in three parts:
  1. the notes' program (sig-demo): it registers a handler for SIGSEGV and makes an invalid
     memory access; the handler prints "Memory access blows up!" and exits 1;
  2. the same fault with no handler (sig-demo segv --no-handler): SIGSEGV's default action kills
     the process, and the shell sees status 139 = 128 + 11 (SIGSEGV);
  3. sig-demo wait prints its PID and reports every signal it receives, with its sender; it is
     sent SIGUSR1, SIGUSR2, SIGHUP (kill), SIGUSR1 with the value $VALUE (sig-demo send: sigqueue),
     then SIGSTOP (it stops: no handler runs) and SIGCONT (it runs again), and last SIGTERM,
     which ends it with status 143 = 128 + 15. sig-demo list --pid shows what it catches.

Options:
  (none)          Headless: the programs run here as processes; their output is labelled
                  [sig-demo], [wait], [send], [list] and [ps] and checked. The kill commands are
                  this script's own (bash's builtin kill), so the reports name its PID.
  --tmux          Two tmux panes, the receiver left, the sender right, the commands typed as a
                  person would: the notes' program left, the one without a handler right; then
                  sig-demo wait left and, with the PID read from the left pane, the kill commands
                  right. When SIGSTOP stops sig-demo wait the left shell takes its terminal back
                  ("Stopped"); SIGCONT makes it run again in the background, and fg, typed left,
                  gives it the terminal again until SIGTERM ends it.
$(lab_options_help)

Checks: the notes' program prints exactly "Memory access blows up!" (nothing on stderr) and exits
1; without a handler nothing is printed on stdout and the status is 139 (kill -l: SEGV);
sig-demo wait prints the PID it runs as, its reports are exactly the six expected lines, in order
(signal, number, sender's PID and uid, kill or sigqueue, the value 42, "continued", "ending"),
nothing reported for SIGSTOP, the process is in state T while stopped and not after SIGCONT, it
exits with status 143 (kill -l: TERM) and is gone; sig-demo list --pid lists SIGHUP, SIGINT,
SIGUSR1, SIGUSR2, SIGTERM, SIGCONT and SIGTSTP as caught; every kill and sig-demo send succeeds.
With --tmux also: the left shell reports the job stopped (status 147 = 128 + 19, SIGSTOP), ps
typed right shows it in state T, and fg ends with 143. On an error, Ctrl-C, SIGTERM or SIGHUP
every program it started is ended, a stopped one too. Exit status: 0 when every check passed, 1
when one failed, 2 for a usage error.

Examples:
  scripts/demo-signal.sh                  headless, builds first if needed
  scripts/demo-signal.sh --tmux --step    watch it typed into two panes, a key before each step
  scripts/demo-signal.sh --bin-dir target/release
EOF
}

NOTES_LINE="Memory access blows up!"
VALUE=42
# what sig-demo wait catches (its handlers record them; the main flow reports them)
CAUGHT=(SIGHUP SIGINT SIGUSR1 SIGUSR2 SIGTERM SIGCONT SIGTSTP)
CONT_TAIL=": continued (if it was stopped, it runs again)"
TERM_TAIL=": ending, as its default action would (the shell shows 143)"
PS_FORMAT="pid,stat,wchan:16,args"
EXPECTED=()      # the reports sig-demo wait should print, in order (set as the signals are sent)
LAB_STEPS=(
    "the notes' program: its handler catches SIGSEGV, prints its line and exits 1"
    "no handler: SIGSEGV's default action kills the process; the shell shows 128 + 11"
    "sig-demo wait prints its PID, then reports every signal it receives, with its sender"
    "kill -USR1, -USR2 and -HUP: its handlers note each signal, and its main flow reports it with the sender's PID"
    "sigqueue: sig-demo send sends SIGUSR1 with a value; the sender is now that process"
    "sig-demo list --pid: what the kernel keeps for the process (/proc/PID/status)"
    "SIGSTOP cannot be caught: the kernel stops the process at once, no handler runs; ps shows it in state T (stopped)"
    "SIGCONT makes it run again; then its handler for SIGCONT runs, and it reports it"
    "SIGTERM: it reports it, then ends by it, as the default action would (the shell shows 143 = 128 + 15)"
)

# report SIGNAL NUMBER SENDER [HOW [TAIL]]: the line sig-demo wait prints when it receives SIGNAL
# (SIGUSR1) from process SENDER, sent by HOW (kill, or "sigqueue" with the value $VALUE).
report() {
    local how=${4:-kill} tail=${5:-}
    [[ $how != sigqueue ]] || tail=", value $VALUE$tail"
    printf 'received %s (%s) from PID %s (uid %s) by %s%s' "$1" "$2" "$3" "$UID" "$how" "$tail"
}

# why_status STATUS: in words, what a shell's exit status above 128 says.
why_status() {
    local n=$(($1 - 128)) name
    name=$(kill -l "$1" 2>/dev/null) || name="?"
    printf '%s = 128 + %d: killed by signal %d, SIG%s (kill -l %s prints %s)' "$1" "$n" "$n" "$name" "$1" "$name"
}

# check_killed_by WHAT STATUS SIGNAME: STATUS (128 + N) says the process was killed by SIGNAME.
check_killed_by() {
    local name="" n
    if [[ $2 =~ ^[0-9]+$ ]] && (($2 > 128)); then
        name=$(kill -l "$2" 2>/dev/null) || name=""
    fi
    if [[ $name == "$3" ]]; then
        lab_pass "$1: status $2 = 128 + $(($2 - 128)): killed by SIG$3 (kill -l $2: $3)"
    else
        n=$(kill -l "$3" 2>/dev/null) || n=N
        lab_fail "$1: status $2 does not say killed by SIG$3 (that would be 128 + $n = $((128 + ${n//N/0})))"
    fi
}

# check_caught WHAT FILE: FILE is sig-demo list --pid's output; its "caught" line must name every
# signal sig-demo wait catches.
check_caught() {
    local what=$1 caught sig missing=()
    caught=$(lab_plain <"$2" | sed -n 's/^ *caught  *//p' | head -n 1)
    for sig in "${CAUGHT[@]}"; do
        [[ " $caught " == *" $sig "* ]] || missing+=("$sig")
    done
    if [[ -z $caught ]]; then
        lab_fail "$what has no \"caught\" line"
    elif ((${#missing[@]} == 0)); then
        lab_pass "$what: it catches ${CAUGHT[*]}"
    else
        lab_fail "$what: the caught signals lack ${missing[*]} (caught: $caught)"
    fi
}

# ----------------------------------------------------------------------------------------------
# Headless

# run_fault NAME ARGS...: sig-demo ARGS, run to its end, its output shown and its status said;
# the caller checks NAME.out, NAME.err and the status (in LAB_RC).
run_fault() {
    local out=$LAB_WORK/$1.out err=$LAB_WORK/$1.err shell=$LAB_WORK/$1.shell pid
    shift
    lab_cmd "sig-demo${*:+ $*}"
    lab_spawn_split "$out" "$err" /dev/null "$LAB_BIN/sig-demo" "$@"
    pid=$LAB_PID
    # bash reports a child killed by a signal on its stderr ("line N: PID Segmentation fault"),
    # when it notices, which is while waiting here: that line is left out, the status says it
    lab_wait_exit "$pid" 10 "sig-demo${*:+ $*}" 2>"$shell" || true
    grep -vE "^.*: line [0-9]+: +$pid " "$shell" >&2 || true
    lab_show sig-demo "$err"
    lab_show sig-demo "$out"
    if ((LAB_RC > 128)); then
        lab_say "exit status $(why_status "$LAB_RC")"
    else
        lab_say "exit status $LAB_RC"
    fi
    echo
}

notes() {
    local out=$LAB_WORK/notes.out err=$LAB_WORK/notes.err rc
    lab_step
    run_fault notes
    rc=$LAB_RC
    lab_check_output "sig-demo's stdout" "$out" "$NOTES_LINE" || true
    if [[ -s $err ]]; then
        lab_fail "sig-demo printed on stderr; the notes' program prints nothing there"
    else
        lab_pass "sig-demo printed nothing on stderr, as the notes' program"
    fi
    lab_check_status "sig-demo (the handler's exit(1))" "$rc" 1 || true
}

no_handler() {
    local out=$LAB_WORK/segv.out rc
    lab_step
    run_fault segv segv --no-handler
    rc=$LAB_RC
    if [[ -s $out ]]; then
        lab_fail "sig-demo segv --no-handler printed on stdout (no handler should run): $(head -c 200 "$out")"
    else
        lab_pass "sig-demo segv --no-handler printed nothing on stdout: no handler ran"
    fi
    lab_check_status "sig-demo segv --no-handler" "$rc" 139 || true
    check_killed_by "sig-demo segv --no-handler" "$rc" SEGV
}

# await_reports FILE N PID: wait up to 10 s for FILE to hold N report lines ("received ...").
await_reports() {
    local tries=200 have
    while :; do
        have=$(grep -c '^received ' "$1" 2>/dev/null) || have=0
        ((have < $2)) || return 0
        if ((tries-- <= 0)) || ! lab_alive "$3"; then
            have=$(grep -c '^received ' "$1" 2>/dev/null) || have=0
            ((have < $2)) || return 0
            lab_fail "sig-demo wait printed $have report(s), expected $2 by now"
            return 1
        fi
        sleep 0.05
    done
}

# signal_it PID SIGNAL FILE N [EXPECTED-LINE]: kill -SIGNAL PID from this script, shown as typed;
# then wait for the Nth report in FILE (unless N is 0) and show what came. EXPECTED-LINE, if
# given, is added to the reports expected.
signal_it() {
    local pid=$1 sig=$2 file=$3 n=$4
    lab_cmd "kill -$sig $pid"
    if kill -s "$sig" "$pid"; then
        [[ -z ${5:-} ]] || EXPECTED+=("$5")
    else
        lab_fail "kill -$sig $pid failed"
        return 1
    fi
    if ((n > 0)); then
        await_reports "$file" "$n" "$pid" || true
    fi
    lab_show_new wait "$file"
}

wait_part() {
    local out=$LAB_WORK/wait.out err=$LAB_WORK/wait.err sout=$LAB_WORK/send.out
    local lout=$LAB_WORK/list.out me=$BASHPID pid wpid spid src lrc rc ign
    EXPECTED=()
    lab_step
    lab_cmd "sig-demo wait &"
    lab_spawn_split "$out" "$err" /dev/null "$LAB_BIN/sig-demo" wait
    pid=$LAB_PID
    if ! lab_wait_line "$out" '^My PID is [0-9]+\.' 10 "$pid"; then
        lab_show_new wait "$out" --all
        lab_show wait "$err"
        lab_fail "sig-demo wait did not print its PID"
        return 0
    fi
    wpid=${LAB_LINE#My PID is }
    wpid=${wpid%%.*}
    lab_show_new wait "$out"
    if [[ $wpid == "$pid" ]]; then
        lab_pass "sig-demo wait prints the PID it runs as ($pid, bash's \$! for it)"
    else
        lab_fail "sig-demo wait says its PID is $wpid, but bash started it as $pid"
    fi

    echo
    lab_say "The kill commands below are bash's builtin, run by this script (PID $me): each report" \
        "names that sender, as the handler found it in siginfo (si_pid, si_uid, si_code)." \
        "SIGUSR1 and SIGUSR2 mean what a program decides; their default action ends the process," \
        "but sig-demo wait has a handler for them: it notes the signal, the main flow reports it." \
        "SIGHUP (hang-up: the terminal went away) would end it too; with a handler it lives on."
    lab_step
    signal_it "$pid" USR1 "$out" 1 "$(report SIGUSR1 10 "$me")" || return 0
    signal_it "$pid" USR2 "$out" 2 "$(report SIGUSR2 12 "$me")" || return 0
    signal_it "$pid" HUP "$out" 3 "$(report SIGHUP 1 "$me")" || return 0

    echo
    lab_say "sigqueue(3) sends a value with the signal (si_value); the sender is now the process" \
        "sig-demo send, not this script."
    lab_step
    lab_cmd "sig-demo send $pid USR1 --value $VALUE"
    lab_spawn "$sout" /dev/null "$LAB_BIN/sig-demo" send "$pid" USR1 --value "$VALUE"
    spid=$LAB_PID
    lab_wait_exit "$spid" 10 "sig-demo send" || true
    src=$LAB_RC
    lab_show send "$sout"
    EXPECTED+=("$(report SIGUSR1 10 "$spid" sigqueue)")
    await_reports "$out" 4 "$pid" || true
    lab_show_new wait "$out"

    echo
    lab_say "What the kernel keeps for the process (/proc/$pid/status: SigCgt, SigBlk, SigIgn, SigPnd):"
    lab_step
    lab_cmd "sig-demo list --pid $pid"
    lab_spawn "$lout" /dev/null "$LAB_BIN/sig-demo" list --pid "$pid"
    lab_wait_exit "$LAB_PID" 10 "sig-demo list" || true
    lrc=$LAB_RC
    lab_show list "$lout"
    ign=$(lab_plain <"$lout" | sed -n 's/^ *ignored  *//p')
    local why="Ignored: SIGPIPE (Rust ignores it)."
    [[ " $ign " != *" SIGQUIT "* ]] || why="Ignored: SIGPIPE (Rust ignores it) and SIGQUIT (bash ignores SIGINT
        and SIGQUIT for what a script starts in the background; a handler replaces SIG_IGN)."
    lab_say "Caught: its seven handlers, and SIGSEGV and SIGBUS, which Rust's runtime catches to report" \
        "a stack overflow. $why"

    echo
    lab_say "SIGSTOP cannot be caught, blocked or ignored."
    lab_step
    signal_it "$pid" STOP "$out" 0 || return 0
    if lab_wait_state "$pid" T 5; then
        lab_pass "sig-demo wait is stopped (state T in /proc/$pid/stat)"
    else
        lab_fail "sig-demo wait is not stopped after kill -STOP (state ${LAB_STATE:-gone})"
    fi
    lab_cmd "ps -o $PS_FORMAT -p $pid"
    ps -o "$PS_FORMAT" -p "$pid" 2>&1 | lab_label ps || true
    lab_say "The kernel makes it run again on SIGCONT, whatever its handler does."
    lab_step
    signal_it "$pid" CONT "$out" 5 "$(report SIGCONT 18 "$me" kill "$CONT_TAIL")" || return 0
    if lab_wait_state "$pid" RSD 5; then
        lab_pass "sig-demo wait runs again after kill -CONT (state $LAB_STATE, no longer T)"
    else
        lab_fail "sig-demo wait should run again after kill -CONT (state ${LAB_STATE:-gone})"
    fi

    echo
    lab_say "SIGTERM asks it to end: it reports it, then restores the default action and raises it" \
        "again, so that bash sees what killed it."
    lab_step
    signal_it "$pid" TERM "$out" 0 "$(report SIGTERM 15 "$me" kill "$TERM_TAIL")" || return 0
    lab_wait_exit "$pid" 10 "sig-demo wait" || true
    rc=$LAB_RC
    lab_show_new wait "$out" --all
    lab_show wait "$err"
    lab_say "exit status $(why_status "$rc")"

    echo
    grep '^received ' "$out" >"$LAB_WORK/reports" || true
    lab_check_output "the list of sig-demo wait's reports" "$LAB_WORK/reports" "${EXPECTED[@]}" || true
    lab_check_output "sig-demo send's stdout" "$sout" "sent SIGUSR1 (10) to process $pid with value $VALUE" || true
    lab_check_status "sig-demo send" "$src" || true
    check_caught "sig-demo list --pid $pid" "$lout"
    lab_check_status "sig-demo list --pid" "$lrc" || true
    lab_check_status "sig-demo wait" "$rc" 143 || true
    check_killed_by "sig-demo wait" "$rc" TERM
    lab_check_process_gone "$pid" "sig-demo wait" || true
}

headless() {
    lab_heading "Signals (notes B4): the notes' program"
    lab_say "It registers myOwnHandler for SIGSEGV, then writes through an invalid pointer: the CPU" \
        "traps, the kernel sends SIGSEGV, and the handler prints its line and exits 1."
    notes

    lab_heading "No handler: the default action of SIGSEGV ends the process"
    lab_say "The same invalid access, with SIGSEGV's default action (and no core file: it sets" \
        "RLIMIT_CORE to 0). Killed by a signal, a process has no exit code: bash shows 128 + N."
    no_handler

    lab_heading "Signals sent to a process: sig-demo wait reports each one, with its sender"
    wait_part
}

# ----------------------------------------------------------------------------------------------
# tmux

# pane_reports PANE: the reports sig-demo wait printed in PANE, one per line. A report may follow
# the shell's prompt on its line (printed while the job ran in the background), so each is taken
# from "received" on.
# shellcheck disable=SC2317
pane_reports() {
    lab_tmux_screen "$1" | grep -o 'received SIG.*' || true
}

# await_pane_reports PANE N SECS: wait for N reports in PANE.
# shellcheck disable=SC2317
await_pane_reports() {
    local tries=$(($3 * 10)) have
    while :; do
        have=$(pane_reports "$1" | wc -l)
        ((have < $2)) || return 0
        if ((tries-- <= 0)); then
            lab_error "sig-demo wait printed $have report(s) in the tmux pane $1, expected $2 within $3s"
            return 1
        fi
        sleep 0.1
    done
}

# right_run NAME COMMAND: type COMMAND in the right pane and wait for it; its status goes to
# tmux.NAME.rc.
# shellcheck disable=SC2317
right_run() {
    lab_tmux_run "$LAB_TMUX_RIGHT" "$2"
    lab_tmux_wait_done "$LAB_TMUX_RIGHT" 10 || return 1
    lab_tmux_save_rc "$1"
}

# Types the three parts into the panes; writes the PID and the exit statuses to files, since it
# may run in a background subshell. Called through lab_tmux_play.
# shellcheck disable=SC2317
tmux_driver() {
    local left=$LAB_TMUX_LEFT right=$LAB_TMUX_RIGHT pid n=0 sig

    # 1 and 2. the notes' program left, no handler right; echo $? shows each status
    lab_step "$left"
    lab_tmux_run "$left" "sig-demo"
    lab_tmux_wait_done "$left" 10 || return 1
    lab_tmux_save_rc notes
    lab_tmux_run "$left" "echo \$?"
    lab_tmux_wait_done "$left" 10 || return 1
    lab_step "$right"
    lab_tmux_run "$right" "sig-demo segv --no-handler"
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc segv
    lab_tmux_run "$right" "echo \$?"
    lab_tmux_wait_done "$right" 10 || return 1

    # 3. sig-demo wait left; the signals typed right, with the PID read from the left pane
    lab_step "$left"
    lab_tmux select-pane -t "$left" -T "receiver: sig-demo wait"
    lab_tmux select-pane -t "$right" -T "sender: kill -SIGNAL PID"
    lab_tmux_run "$left" "sig-demo wait"
    lab_tmux_wait_text "$left" '^My PID is [0-9]+\.' 10 || return 1
    pid=${LAB_LINE#My PID is }
    pid=${pid%%.*}
    echo "$pid" >"$LAB_WORK/tmux.pid"
    lab_track_pid "$pid"
    lab_step "$right"
    for sig in USR1 USR2 HUP; do
        right_run "kill-$sig" "kill -$sig $pid" || return 1
        n=$((n + 1))
        await_pane_reports "$left" "$n" 10 || return 1
        lab_pause 5
    done
    lab_step "$right"
    right_run send "sig-demo send $pid USR1 --value $VALUE" || return 1
    n=$((n + 1))
    await_pane_reports "$left" "$n" 10 || return 1
    lab_step "$right"
    right_run list "sig-demo list --pid $pid" || return 1

    lab_step "$right"
    lab_tmux_mark "$left"
    right_run kill-STOP "kill -STOP $pid" || return 1
    lab_tmux_wait_done "$left" 10 || return 1
    lab_tmux_save_rc stopped
    lab_pause 5
    right_run ps "ps -o $PS_FORMAT -p $pid" || return 1
    # SIGCONT: it runs again, in the background (the shell kept the terminal); fg gives it back
    lab_step "$right"
    right_run kill-CONT "kill -CONT $pid" || return 1
    n=$((n + 1))
    await_pane_reports "$left" "$n" 10 || return 1
    lab_pause 5
    lab_tmux_run "$left" "fg"
    lab_tmux_wait_text "$left" '^sig-demo wait$' 10 || return 1
    lab_step "$right"
    right_run kill-TERM "kill -TERM $pid" || return 1
    n=$((n + 1))
    await_pane_reports "$left" "$n" 10 || return 1
    lab_tmux_wait_done "$left" 10 || return 1
    lab_tmux_save_rc wait
    lab_tmux_run "$left" "echo \$?"
    lab_tmux_wait_done "$left" 10 || return 1
    # the screens now, in case the panes are closed before the session ends
    lab_tmux_capture "$left" "$LAB_WORK/left.screen" || true
    lab_tmux_capture "$right" "$LAB_WORK/right.screen" || true
}

with_tmux() {
    local screen_l=$LAB_WORK/left.screen screen_r=$LAB_WORK/right.screen pid="" shell sig
    local sq_pid got
    lab_heading "Signals (notes B4) in tmux: receiver left, sender right"
    lab_tmux_start signal receiver sender
    # the right pane's shell: its builtin kill sends the signals, so the reports name it
    shell=$(lab_tmux display-message -p -t "$LAB_TMUX_RIGHT" '#{pane_pid}') ||
        lab_die "tmux did not tell the right pane's process"
    lab_tmux_play tmux_driver
    local driver_rc=$LAB_RC
    if [[ -s $LAB_WORK/tmux.pid ]]; then
        pid=$(<"$LAB_WORK/tmux.pid")
        # the driver may have run in a subshell: track it here too, until it is seen gone
        lab_track_pid "$pid"
    fi

    # a sig-demo wait still running (stopped, even) gets SIGHUP and SIGCONT from its shell here
    lab_tmux_end "$screen_l" "$screen_r" \
        "The receiver's pane (left)" "The sender's pane (right)"

    echo
    if [[ -n $pid ]]; then
        lab_check_process_gone "$pid" "sig-demo wait" && lab_untrack_pid "$pid"
    fi
    if lab_tmux_left_early "$driver_rc"; then
        return 0
    fi
    if ((driver_rc != 0)); then
        lab_fail "the tmux demo did not run to its end"
    fi

    lab_screen_output "$screen_l" 'receiver$' sig-demo >"$LAB_WORK/notes.lines"
    lab_check_output "sig-demo's output in the left pane" "$LAB_WORK/notes.lines" "$NOTES_LINE" || true
    lab_check_status "sig-demo (the handler's exit(1))" "$(lab_tmux_rc notes)" 1 || true
    lab_screen_output "$screen_r" 'sender$' "sig-demo segv --no-handler" >"$LAB_WORK/segv.lines"
    if grep -q '^Segmentation fault' "$LAB_WORK/segv.lines"; then
        lab_pass "the right shell reports sig-demo segv --no-handler killed: Segmentation fault"
    else
        lab_fail "the right shell does not report \"Segmentation fault\" for sig-demo segv --no-handler"
    fi
    lab_check_status "sig-demo segv --no-handler" "$(lab_tmux_rc segv)" 139 || true
    check_killed_by "sig-demo segv --no-handler" "$(lab_tmux_rc segv)" SEGV

    if [[ -z $pid ]]; then
        lab_fail "no PID appeared in the left pane (My PID is N)"
        return 0
    fi
    lab_check_lines "the left pane (sig-demo wait's PID)" "$screen_l" \
        "My PID is $pid. From another terminal, try:" || true
    # the reports, the sigqueue sender (sig-demo send, a process of its own) replaced by S
    grep -o 'received SIG.*' "$screen_l" >"$LAB_WORK/reports.raw" || true
    sq_pid=$(sed -nE 's/^received SIGUSR1 \(10\) from PID ([0-9]+) .* by sigqueue.*/\1/p' \
        "$LAB_WORK/reports.raw" | head -n 1)
    sed -E 's/^(received SIGUSR1 \(10\) from PID )[0-9]+( .* by sigqueue)/\1S\2/' \
        "$LAB_WORK/reports.raw" >"$LAB_WORK/reports"
    lab_check_output "the list of sig-demo wait's reports in the left pane (S: sig-demo send's PID)" \
        "$LAB_WORK/reports" \
        "$(report SIGUSR1 10 "$shell")" \
        "$(report SIGUSR2 12 "$shell")" \
        "$(report SIGHUP 1 "$shell")" \
        "$(report SIGUSR1 10 S sigqueue)" \
        "$(report SIGCONT 18 "$shell" kill "$CONT_TAIL")" \
        "$(report SIGTERM 15 "$shell" kill "$TERM_TAIL")" || true
    if [[ -n $sq_pid && $sq_pid != "$shell" && $sq_pid != "$pid" ]]; then
        lab_pass "the value came from sig-demo send's own process (PID $sq_pid), not the right shell ($shell)"
    else
        lab_fail "the sigqueue report should name sig-demo send's PID, not the shell's ($shell): got ${sq_pid:-none}"
    fi
    for sig in USR1 USR2 HUP STOP CONT TERM; do
        lab_check_status "kill -$sig $pid" "$(lab_tmux_rc "kill-$sig")" || true
    done
    lab_screen_output "$screen_r" 'sender$' "sig-demo send $pid USR1 --value $VALUE" >"$LAB_WORK/send.lines"
    lab_check_output "sig-demo send's output in the right pane" "$LAB_WORK/send.lines" \
        "sent SIGUSR1 (10) to process $pid with value $VALUE" || true
    lab_check_status "sig-demo send" "$(lab_tmux_rc send)" || true
    lab_screen_output "$screen_r" 'sender$' "sig-demo list --pid $pid" >"$LAB_WORK/list.lines"
    check_caught "sig-demo list --pid $pid in the right pane" "$LAB_WORK/list.lines"
    lab_check_status "sig-demo list --pid" "$(lab_tmux_rc list)" || true

    if grep -qE '^\[[0-9]+\]\+ +Stopped +sig-demo wait$' "$screen_l"; then
        lab_pass "the left shell reports its job stopped: $(grep -E '^\[[0-9]+\]\+ +Stopped' "$screen_l" | head -n 1 | tr -s ' ')"
    else
        lab_fail "the left shell does not report sig-demo wait Stopped after kill -STOP"
    fi
    if [[ $(lab_tmux_rc stopped) == 147 ]]; then
        lab_pass "the left shell's status for the stopped job is 147 = 128 + 19 (SIGSTOP)"
    else
        lab_fail "the left shell's status for the stopped job is $(lab_tmux_rc stopped), expected 147 = 128 + 19 (SIGSTOP)"
    fi
    lab_screen_output "$screen_r" 'sender$' "ps -o $PS_FORMAT -p $pid" >"$LAB_WORK/ps.lines"
    got=$(awk -v p="$pid" '$1 == p { print $2 }' "$LAB_WORK/ps.lines")
    if [[ $got == T* ]]; then
        lab_pass "ps in the right pane shows sig-demo wait stopped (STAT $got)"
    else
        lab_fail "ps in the right pane should show PID $pid in state T; STAT: ${got:-(no such line)}"
    fi
    lab_check_status "sig-demo wait (fg, ended by kill -TERM)" "$(lab_tmux_rc wait)" 143 || true
    check_killed_by "sig-demo wait" "$(lab_tmux_rc wait)" TERM
}

# ----------------------------------------------------------------------------------------------

main() {
    lab_demo_start sig-demo -- "$@"
    if ((LAB_DEMO_TMUX)); then
        with_tmux
    else
        headless
    fi
    lab_finish
}

main "$@"
