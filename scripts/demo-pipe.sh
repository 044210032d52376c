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
     pipe-demo fifo-write --explain opens it and writes the two lines typed on its input (ended
     with Ctrl-D); the reader prints them, sees end of file, and removes the FIFO it made;
  3. the blocking timeline (pipe-demo blocking): a writer blocks on a full pipe until a slow
     reader makes room, then the reader blocks on an empty pipe until the writer writes.

Checks: the notes' program prints "Proc 0 read: Hello There!" (with --explain too) and exits 0;
the reader waits in open() until the writer comes, prints the lines written, both exit 0 and the
FIFO is gone afterwards; in the timeline write #5 and then the read each waited at least half the
reader's delay: both really blocked. With --tmux also: ps shows the writer asleep in pipe_write,
then the reader in pipe_read (unless the kernel hides WCHAN).

Options:
  (none)          Headless: the programs run here as processes; their output is labelled
                  [reader] (the left side's) and [writer] (the right side's).
  --tmux          Two tmux panes, reader left, writer right, the commands typed as a person
                  would; in part 3, while the timeline runs left, ps typed right (-p PID --ppid PID:
                  the reader and its child, the writer) shows, twice, where each side sleeps
                  (WCHAN): the writer in pipe_write, then the reader in pipe_read.
$(lab_options_help)
EOF
}

HELLO="Proc 0 read: Hello There!"
MESSAGES=("Hello There!" "a named pipe joins two unrelated processes")
LAB_STEPS=(
    "the notes' program: the parent writes Hello There! into a pipe, the child reads it and prints what it got"
    "the same with --explain: each call narrated on stderr, stdout unchanged"
    "a named pipe (FIFO): the reader makes it and opens it to read; open waits until a process opens it to write"
    "ls -l: the p at its start says FIFO; the reader still waits in open()"
    "a writer, not the reader's parent or child, opens the FIFO by its name and writes two lines; the reader prints them, and sees end of file when the writer closes its end"
    "blocking: the writer fills the pipe and blocks in write() until the slow reader makes room; then the reader blocks in read() on the empty pipe until the writer writes"
)

# ps_wchan PID SYMBOL WHO: with --tmux, ps typed right while WHO is blocked; the check that it
# shows pipe-demo blocking (process PID or its child) asleep in a kernel function named *SYMBOL*.
ps_wchan() {
    local wchan
    lab_run R ps -o pid,ppid,stat,wchan:20,args -p "$1" --ppid "$1"
    lab_end R
    lab_output R "$LAB_WORK/ps"
    wchan=$(awk '/pipe-demo blocking/ { printf " %s", $4 }' "$LAB_WORK/ps")
    if [[ $wchan == *"$2"* ]]; then
        lab_pass "ps shows $3 asleep in the kernel (WCHAN:$wchan)"
    elif [[ -n $wchan && -z ${wchan//[ 0-]/} ]]; then
        lab_pass "ps lists pipe-demo blocking (where it sleeps not checked: this kernel hides WCHAN)"
    else
        lab_fail "ps should show $3 asleep in $2 (WCHAN:${wchan:- no pipe-demo blocking line})"
    fi
}

play() {
    local fifo=$LAB_WORK/lab.fifo delay=0.25 m pid waits
    # with --tmux, time for ps to look while a side is blocked (more when a person watches)
    if ((LAB_DEMO_TMUX)); then
        delay=1
        ! lab_tmux_interactive || delay=2
    fi
    lab_heading "Pipes (notes B3): the notes' program, then with --explain"
    lab_say "The parent makes a pipe and forks; it writes \"Hello There!\" into the write end, the" \
        "child reads the read end and prints what it got (and the parent waits for the child)."
    lab_step L
    lab_run L pipe-demo
    lab_end L
    lab_expect L "$HELLO"
    lab_step R
    lab_run R pipe-demo --explain
    lab_end R
    lab_expect R "[step 1] create the pipe" "$HELLO"

    lab_heading "A named pipe (FIFO): a reader and a writer that are not parent and child"
    lab_say "A pipe has no name, so only related processes share it. A FIFO has a path: the reader" \
        "makes it (mkfifo) and opens it to read; open waits until some process opens it to write."
    lab_step L
    lab_run L pipe-demo fifo-read "$fifo"
    lab_await L 'open waits until a writer opens it'
    lab_step R
    lab_run R ls -l "$fifo"
    lab_end R
    lab_expect R "prw-------"
    if lab_busy L; then lab_pass "the reader still runs: it waits in open() for a writer"; else lab_fail "the reader should still wait in open()"; fi
    lab_step R
    lab_run R pipe-demo fifo-write --explain "$fifo"
    lab_await R 'to write: open waits until a reader opens it'
    for m in "${MESSAGES[@]}"; do
        lab_type R "$m"
        lab_await L "^$m\$"
    done
    lab_key R C-d
    lab_end R
    lab_end L
    lab_expect L "${MESSAGES[@]}"
    lab_gone path "$fifo" "the reader's FIFO"

    lab_heading "Blocking: a writer waits on a full pipe, a reader on an empty one"
    lab_say "The writer (the child) writes a page at a time into a pipe of 4 pages; the reader (the" \
        "parent) waits $delay s before it reads. Each line: the time, who, and what happens."
    lab_step L
    lab_run L pipe-demo blocking --delay "$delay"
    pid=$LAB_PID
    lab_await L 'no free slot: write blocks'
    ((LAB_DEMO_TMUX == 0)) || ps_wchan "$pid" pipe_write "the writer"
    lab_await L 'read blocks until the writer writes'
    ((LAB_DEMO_TMUX == 0)) || ps_wchan "$pid" pipe_read "the reader"
    lab_end L 0 15
    # the two waits: write #5's, then the read's
    lab_output L "$LAB_WORK/timeline"
    waits=$(sed -nE 's/.*(write #5 returns|read returns 100 bytes) after ([0-9.]+) s.*/\2/p' \
        "$LAB_WORK/timeline" | paste -sd ' ')
    if awk -v d="$delay" -v w="$waits" 'BEGIN { exit !(split(w, a, " ") == 2 && a[1] >= d / 2 && a[2] >= d / 2) }'; then
        lab_pass "write #5 waited ${waits% *} s, the read ${waits#* } s (each at least $delay/2 s): both really blocked"
    else
        lab_fail "write #5 and the read should each wait at least $delay/2 s; waits seen: ${waits:-none}"
    fi
}

lab_demo_start pipe-demo -- "$@"
lab_panes pipe reader writer
play
lab_finish
