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

Checks: the notes' program prints "Memory access blows up!" and exits 1; without a handler the
status is 139 (kill -l: SEGV); sig-demo wait prints its PID and reports each signal with the PID
of the process that sent it, by kill or by sigqueue with the value $VALUE, nothing for SIGSTOP;
it is in state T while stopped and not after SIGCONT, exits with status 143 (kill -l: TERM) and
is gone; every kill, sig-demo send and sig-demo list succeeds. With --tmux also: the left shell
reports the job stopped (status 147 = 128 + 19, SIGSTOP), ps typed right shows it in state T.

Options:
  (none)          Headless: the programs run here as processes; their output is labelled
                  [receiver] and [sender]. Each kill is bash's builtin, run in a subshell of
                  this script, and the reports name that subshell's PID.
  --tmux          Two tmux panes, the receiver left, the sender right, the commands typed as a
                  person would: the notes' program left, the one without a handler right; then
                  sig-demo wait left and, with the PID read from the left pane, the kill commands
                  right. When SIGSTOP stops sig-demo wait the left shell takes its terminal back
                  ("Stopped"); SIGCONT makes it run again in the background, and fg, typed left,
                  gives it the terminal again until SIGTERM ends it.
$(lab_options_help)
EOF
}

VALUE=42
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

# why_status PANE STATUS: with --tmux the status shown in PANE (echo $?); above 128, what it says.
why_status() {
    local name
    if ((LAB_DEMO_TMUX)); then
        # shellcheck disable=SC2016 # for the pane's shell to expand
        lab_run "$1" echo '$?'
        lab_end "$1"
    fi
    shift
    (($1 > 128)) || return 0
    name=$(kill -l "$1")
    lab_say "Status $1 = 128 + $(($1 - 128)): killed by signal $(($1 - 128)), SIG$name (kill -l $1 prints $name)."
}

# signal SIG NUMBER PID [TAIL]: kill -SIG PID typed right; the report of it awaited left, naming
# the process that ran kill as the sender.
signal() {
    local sender
    lab_run R kill "-$1" "$3"
    lab_end R
    sender=$(lab_pane_pid R)
    lab_await L "received SIG$1 \\($2\\) from PID $sender \\(uid $UID\\) by kill${4:-}"
    lab_pass "sig-demo wait reports SIG$1 ($2) from PID $sender, the process that ran kill"
}

play() {
    local pid
    lab_heading "Signals (notes B4): the notes' program, then no handler"
    lab_say "It registers myOwnHandler for SIGSEGV, then writes through an invalid pointer: the CPU" \
        "traps, the kernel sends SIGSEGV, and the handler prints its line and exits 1."
    lab_step L
    lab_run L sig-demo
    lab_end L 1
    lab_expect L "Memory access blows up!"
    why_status L 1
    lab_say "The same invalid access with SIGSEGV's default action (and no core file: it sets" \
        "RLIMIT_CORE to 0). Killed by a signal, a process has no exit code: the shell shows 128 + N."
    lab_step R
    lab_run R sig-demo segv --no-handler
    lab_end R 139
    why_status R 139

    lab_heading "Signals sent to a process: sig-demo wait reports each one, with its sender"
    lab_step L
    lab_run L sig-demo wait
    lab_await L '^My PID is ([0-9]+)\.'
    pid=${LAB_MATCH[1]}
    lab_track pid "$pid"
    lab_say "SIGUSR1 and SIGUSR2 mean what a program decides; their default action ends the process," \
        "but sig-demo wait has a handler for them: it notes the signal, the main flow reports it" \
        "with the sender the handler found in siginfo (si_pid, si_uid, si_code). SIGHUP (hang-up:" \
        "the terminal went away) would end it too; with a handler it lives on."
    lab_step R
    signal USR1 10 "$pid"
    signal USR2 12 "$pid"
    signal HUP 1 "$pid"
    lab_step R
    lab_run R sig-demo send "$pid" USR1 --value "$VALUE"
    lab_end R
    lab_await L "received SIGUSR1 \\(10\\) from PID [0-9]+ \\(uid $UID\\) by sigqueue, value $VALUE"
    lab_pass "sig-demo wait reports SIGUSR1 with the value $VALUE, by sigqueue: $LAB_LINE"
    lab_step R
    lab_run R sig-demo list --pid "$pid"
    lab_end R
    lab_step R
    lab_run R kill -STOP "$pid"
    lab_end R
    lab_stopped L "$pid"
    lab_run R ps -o pid,stat,wchan:16,args -p "$pid"
    lab_end R
    lab_say "The kernel makes it run again on SIGCONT, whatever its handler does."
    lab_step R
    signal CONT 18 "$pid" ": continued"
    lab_fg L "$pid"
    lab_say "SIGTERM asks it to end: it reports it, then restores the default action and raises it" \
        "again, so that the shell sees what killed it."
    lab_step R
    signal TERM 15 "$pid" ": ending"
    lab_end L 143
    why_status L 143
    lab_gone pid "$pid" "sig-demo wait, PID"
}

lab_demo_start sig-demo -- "$@"
# bash reports a child killed by a signal it does not trap ("Segmentation fault"), when it
# notices: the status says it here. A trap (not an ignore) leaves the children SIGSEGV's default.
trap : SEGV
lab_panes signal receiver sender
play
lab_finish
