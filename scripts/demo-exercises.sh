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

Options:
  (none)          Headless: each lab-check runs here; its report is shown and checked.
  --tmux          Two tmux panes: pipe-hello's checks left (the solution, then the notes'
                  program), sig-segv's right, typed as a person would.
$(lab_options_help)

Checks: each solution scores full marks and lab-check exits 0; the notes' pipe program scores 4
of 6, fails "waits" with the hint to call wait(NULL), and lab-check exits 1. Exit status: 0 when
every check passed, 1 when one failed, 2 for a usage error. Needs a C compiler (cc).

Examples:
  scripts/demo-exercises.sh               headless, builds first if needed
  scripts/demo-exercises.sh --tmux --step watch it typed into two panes, a key before each step
EOF
}

PIPE_SOLUTION=exercises/pipe-hello/solution/pipe-hello.c
SEGV_SOLUTION=exercises/sig-segv/solution/sig-segv.c
FULL="score: 6/6 (3 of 3 checks passed)"
WAITS_FAIL="FAIL  waits   0/2  the parent waits for its child (wait or waitpid) before it ends"
NOTES_SCORE="score: 4/6 (2 of 3 checks passed)"
HINT="hint: call wait(NULL) in the parent"
LAB_STEPS=(
    "lab-check on the reference solution of pipe-hello: it compiles the file, runs it on a terminal and reports each check"
    "lab-check on the reference solution of sig-segv"
    "lab-check on the notes' pipe program, as printed: its parent never waits for its child, and lab-check, a subreaper, is handed the child"
)

# check_run NAME WANT-RC EXERCISE FILE LINE...: run lab-check, show its report, check its lines
# and its exit status.
check_run() {
    local name=$1 want=$2 exercise=$3 file=$4 out pid
    shift 4
    out=$LAB_WORK/$name.out
    lab_step
    lab_cmd "lab-check $exercise $file"
    lab_spawn "$out" /dev/null "$LAB_BIN/lab-check" "$exercise" "$file"
    pid=$LAB_PID
    lab_wait_exit "$pid" 60 lab-check || true
    lab_show "$name" "$out"
    echo
    lab_check_lines "lab-check's report on $file" "$out" "$@" || true
    lab_check_status "lab-check $exercise" "$LAB_RC" "$want" || true
}

# write_notes_pipe FILE: the notes' pipe program, as printed (its parent does not wait).
write_notes_pipe() {
    printf '%s\n' \
        '#define READ_END 0' \
        '#define WRITE_END 1' \
        '#include <stdio.h>' \
        '#include <stdlib.h>' \
        '#include <string.h>' \
        '#include <unistd.h>' \
        '' \
        'int main() {' \
        '    int pipeFd[2], pid, len;' \
        '    char buf[100], *str = "Hello There!";' \
        '' \
        '    pipe(pipeFd);' \
        '    if ((pid = fork()) > 0) { /* parent proc */' \
        '        close(pipeFd[READ_END]);' \
        '        write(pipeFd[WRITE_END], str, strlen(str) + 1);' \
        '        close(pipeFd[WRITE_END]);' \
        '    } else { /* child proc */' \
        '        close(pipeFd[WRITE_END]);' \
        '        len = read(pipeFd[READ_END], buf, sizeof buf);' \
        '        printf("Proc %d read: %s\n", pid, buf);' \
        '        close(pipeFd[READ_END]);' \
        '    }' \
        '}' >"$1"
}

# check_hint FILE: the failure's hint in lab-check's report on the notes' program.
check_hint() {
    if grep -qF "$HINT" "$1"; then
        lab_pass "the failure's hint says to call wait(NULL)"
    else
        lab_fail "the failure's hint does not say to call wait(NULL)"
    fi
}

# ----------------------------------------------------------------------------------------------
# Headless

headless() {
    cd "$LAB_ROOT"
    lab_heading "Exercises: lab-check on the reference solution of pipe-hello"
    check_run pipe 0 pipe-hello "$PIPE_SOLUTION" \
        "ok    waits   2/2  the parent waits for its child (wait or waitpid) before it ends" "$FULL"

    lab_heading "lab-check on the reference solution of sig-segv"
    check_run segv 0 sig-segv "$SEGV_SOLUTION" "$FULL"

    lab_heading "lab-check on the notes' pipe program, as printed"
    check_run notes 1 pipe-hello "$LAB_WORK/pipe.c" "$WAITS_FAIL" "$NOTES_SCORE"
    check_hint "$LAB_WORK/notes.out"
}

# ----------------------------------------------------------------------------------------------
# tmux

# Types the three lab-check commands into the panes. Called through lab_tmux_play.
# shellcheck disable=SC2317
tmux_driver() {
    local left=$LAB_TMUX_LEFT right=$LAB_TMUX_RIGHT root
    root=$(printf %q "$LAB_ROOT")
    lab_step "$left"
    lab_tmux_run "$left" "cd $root && lab-check pipe-hello $PIPE_SOLUTION"
    lab_tmux_wait_done "$left" 60 || return 1
    lab_tmux_save_rc pipe
    lab_step "$right"
    lab_tmux_run "$right" "cd $root && lab-check sig-segv $SEGV_SOLUTION"
    lab_tmux_wait_done "$right" 60 || return 1
    lab_tmux_save_rc segv
    lab_step "$left"
    lab_tmux_run "$left" "lab-check pipe-hello $LAB_WORK/pipe.c"
    lab_tmux_wait_done "$left" 60 || return 1
    lab_tmux_save_rc notes
    lab_tmux_capture "$left" "$LAB_WORK/pipe.screen" || true
    lab_tmux_capture "$right" "$LAB_WORK/segv.screen" || true
}

with_tmux() {
    local notes=$LAB_WORK/notes.lines
    lab_heading "Exercises in tmux: pipe-hello's checks left, sig-segv's right"
    lab_tmux_start exercises pipe-hello sig-segv
    lab_tmux_play tmux_driver
    local driver_rc=$LAB_RC
    lab_tmux_end "$LAB_WORK/pipe.screen" "$LAB_WORK/segv.screen" \
        "pipe-hello (left)" "sig-segv (right)"
    echo
    ! lab_tmux_left_early "$driver_rc" || return 0
    ((driver_rc == 0)) || lab_fail "the tmux demo did not run to its end"
    lab_screen_output "$LAB_WORK/pipe.screen" 'pipe-hello$' "cd $(printf %q "$LAB_ROOT") && lab-check pipe-hello $PIPE_SOLUTION" >"$notes"
    lab_check_lines "the left pane's first report" "$notes" "$FULL" || true
    lab_check_lines "the right pane" "$LAB_WORK/segv.screen" "$FULL" || true
    lab_check_status "lab-check pipe-hello" "$(lab_tmux_rc pipe)" || true
    lab_check_status "lab-check sig-segv" "$(lab_tmux_rc segv)" || true
    lab_screen_output "$LAB_WORK/pipe.screen" 'pipe-hello$' "lab-check pipe-hello $LAB_WORK/pipe.c" >"$notes"
    lab_check_lines "the left pane's report on the notes' program" "$notes" "$WAITS_FAIL" "$NOTES_SCORE" || true
    check_hint "$notes"
    lab_check_status "lab-check pipe-hello on the notes' program" "$(lab_tmux_rc notes)" 1 || true
}

# ----------------------------------------------------------------------------------------------

main() {
    lab_demo_start lab-check -- "$@"
    write_notes_pipe "$LAB_WORK/pipe.c"
    if ((LAB_DEMO_TMUX)); then
        with_tmux
    else
        headless
    fi
    lab_finish
}

main "$@"
