#!/usr/bin/env bash
# The exercises demo: lab-check on the reference solutions, and on the notes' pipe program.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--pace SECS] [--step] [--bin-dir DIR]

The exercises demo (docs/07-exercises.md): lab-check compiles a student's C program, runs it
against ipc-lab's reference programs and reports each check. Here it checks the reference
solutions of pipe-hello and sig-segv (every check passes) and the notes' own pipe program, whose
parent never waits for its child (the check "waits" fails, with its hint).

Checks: each solution scores full marks and lab-check exits 0; the notes' pipe program scores 4
of 6, fails "waits" with the hint to call wait(NULL), and lab-check exits 1. Needs a C compiler (cc).

Options:
  (none)          Headless: each lab-check runs here; its report is labelled [pipe-hello] or
                  [sig-segv].
  --tmux          Two tmux panes: pipe-hello's checks left (the solution, then the notes'
                  program), sig-segv's right, typed as a person would.
$(lab_options_help)
EOF
}

FULL="score: 6/6 (3 of 3 checks passed)"
LAB_STEPS=(
    "lab-check on the reference solution of pipe-hello: it compiles the file, runs it on a terminal and reports each check"
    "lab-check on the reference solution of sig-segv"
    "lab-check on the notes' pipe program, as printed: its parent never waits for its child, and lab-check, a subreaper, is handed the child"
)

# write_notes_pipe FILE: the notes' pipe program, as printed (its parent does not wait).
write_notes_pipe() {
    cat >"$1" <<'C'
#define READ_END 0
#define WRITE_END 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main() {
    int pipeFd[2], pid, len;
    char buf[100], *str = "Hello There!";

    pipe(pipeFd);
    if ((pid = fork()) > 0) { /* parent proc */
        close(pipeFd[READ_END]);
        write(pipeFd[WRITE_END], str, strlen(str) + 1);
        close(pipeFd[WRITE_END]);
    } else { /* child proc */
        close(pipeFd[WRITE_END]);
        len = read(pipeFd[READ_END], buf, sizeof buf);
        printf("Proc %d read: %s\n", pid, buf);
        close(pipeFd[READ_END]);
    }
}
C
}

play() {
    lab_heading "Exercises: lab-check on the reference solutions of pipe-hello and sig-segv"
    lab_step L
    lab_run L lab-check pipe-hello exercises/pipe-hello/solution/pipe-hello.c
    lab_end L 0 60
    lab_expect L "ok    waits   2/2" "$FULL"
    lab_step R
    lab_run R lab-check sig-segv exercises/sig-segv/solution/sig-segv.c
    lab_end R 0 60
    lab_expect R "$FULL"

    lab_heading "lab-check on the notes' pipe program, as printed"
    lab_step L
    lab_run L lab-check pipe-hello "$LAB_WORK/pipe.c"
    lab_end L 1 60
    lab_expect L "FAIL  waits   0/2  the parent waits for its child" "hint: call wait(NULL) in the parent" \
        "score: 4/6 (2 of 3 checks passed)"
}

lab_demo_start lab-check -- "$@"
cd "$LAB_ROOT"
write_notes_pipe "$LAB_WORK/pipe.c"
lab_panes exercises pipe-hello sig-segv
play
lab_finish
