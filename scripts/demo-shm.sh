#!/usr/bin/env bash
# The shared-memory demo (lecture notes B1): shm-master and shm-slave talking through a segment.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--bin-dir DIR]

The shared-memory demo (lecture notes B1, steps 1 to 5): shm-master creates a 40-byte segment and
waits for its ready flag; shm-slave attaches the segment, writes 5, 7 and -9 and sets the flag; the
master reads the three values, detaches and destroys the segment.

Options:
  (none)          Headless: both programs run here as processes, the slave fed the id and the
                  values on stdin as in the notes' dialogue; their output is labelled [master] and
                  [slave] and checked. A second run with --explain narrates the five steps.
  --tmux          Two tmux panes, master left, slave right, the commands typed as a person would.
                  From a terminal the session is attached (leave it with Ctrl-b d); without one it
                  runs detached, then each pane's screen is printed and checked.
  --detached      With --tmux: do not attach, even from a terminal (as in CI).
  --bin-dir DIR   Take shm-master and shm-slave from DIR. Default: \$IPC_LAB_BIN, else build
                  them once with cargo build --release and use target/release.
  -h, --help      Print this help.

Checks: the master prints the id and "Read 5 from shared memory." (7, -9), both programs exit 0,
and the segment is gone afterwards (/proc/sysvipc/shm). Exit status: 0 when every check passed,
1 when one failed, 2 for a usage error.

Environment: IPC_LAB_BIN (as --bin-dir), IPC_LAB_PACE (seconds between typed words with --tmux),
NO_COLOR (no colours).

Examples:
  scripts/demo-shm.sh                     headless, builds first if needed
  scripts/demo-shm.sh --tmux              watch it typed into two panes
  scripts/demo-shm.sh --bin-dir target/release
EOF
}

VALUES=(5 7 -9)
READ_LINES=()
for v in "${VALUES[@]}"; do
    READ_LINES+=("Read $v from shared memory.")
done
PROMPT="Shared memory id for attachment: "

# ----------------------------------------------------------------------------------------------
# Headless

# run_pair NAME [--explain]: one master and one slave; their output shown labelled, then checked.
run_pair() {
    local name=$1 explain=${2:-} mout sout sin id mpid spid mrc src
    local -a mflags=(--interval 0.2 --timeout 30) sargs=()
    mout=$LAB_WORK/$name-master.out
    sout=$LAB_WORK/$name-slave.out
    sin=$LAB_WORK/$name-slave.in
    [[ -z $explain ]] || mflags=(--explain "${mflags[@]}")

    lab_cmd "shm-master ${mflags[*]} &"
    lab_spawn "$mout" /dev/null "$LAB_BIN/shm-master" "${mflags[@]}"
    mpid=$LAB_PID
    if ! lab_wait_line "$mout" '^Shared Memory Id = [0-9]+$' 10 "$mpid"; then
        lab_show_new master "$mout" --all
        lab_fail "shm-master ($name) printed no segment id"
        return 0
    fi
    id=${LAB_LINE##* }
    lab_track_segment "$id" "$mpid"
    lab_show_new master "$mout"

    if [[ -z $explain ]]; then
        # the notes' dialogue: the id at the prompt, then the values
        printf '%s\n%s\n' "$id" "${VALUES[*]}" >"$sin"
        lab_cmd "printf '$id\\n${VALUES[*]}\\n' | shm-slave      # what you would type at its prompt"
    else
        : >"$sin"
        sargs=(--explain "$id" "${VALUES[@]}")
        lab_cmd "shm-slave ${sargs[*]}"
    fi
    lab_spawn "$sout" "$sin" "$LAB_BIN/shm-slave" "${sargs[@]}"
    spid=$LAB_PID
    lab_wait_exit "$spid" 10 shm-slave || true
    src=$LAB_RC
    lab_show slave "$sout"
    lab_wait_exit "$mpid" 10 shm-master || true
    mrc=$LAB_RC
    lab_show_new master "$mout" --all

    echo
    lab_check_lines "shm-master's output" "$mout" "Shared Memory Id = $id" "${READ_LINES[@]}" || true
    if [[ -z $explain ]]; then
        lab_check_lines "shm-slave's output" "$sout" "$PROMPT" || true
    fi
    lab_check_status shm-master "$mrc" || true
    lab_check_status shm-slave "$src" || true
    lab_check_segment_gone "$id" || true
}

headless() {
    lab_heading "Shared memory (notes B1): the master and the slave, as in the notes' dialogue"
    lab_say "shm-master creates and attaches a segment, prints its id and looks at the ready flag every"
    lab_say "0.2 s; shm-slave gets the id and the values on stdin, writes them, then sets the flag."
    run_pair plain

    lab_heading "The same with --explain: each side narrates the five steps (on stderr)"
    lab_say "This time the slave takes the id and the values as arguments."
    run_pair explain --explain
}

# ----------------------------------------------------------------------------------------------
# tmux

# Types the notes' dialogue into the panes; writes the id and the exit statuses to files, since it
# may run in a background subshell. Called through lab_tmux_play.
# shellcheck disable=SC2317
tmux_driver() {
    local left=$LAB_TMUX_LEFT right=$LAB_TMUX_RIGHT id
    lab_tmux_wait_prompt "$left" 10 || return 1
    lab_tmux_wait_prompt "$right" 10 || return 1
    lab_tmux_pause 0.5
    lab_tmux_run "$left" "shm-master --interval 0.5"
    lab_tmux_wait_text "$left" '^Shared Memory Id = [0-9]+$' 15 || return 1
    id=${LAB_LINE##* }
    echo "$id" >"$LAB_WORK/tmux.id"
    lab_track_segment "$id"
    lab_tmux_pause 0.5
    lab_tmux_run "$right" "shm-slave"
    lab_tmux_wait_text "$right" '^Shared memory id for attachment:' 10 || return 1
    lab_tmux_pause 0.5
    lab_tmux_type "$right" "$id"
    lab_tmux_enter "$right"
    lab_tmux_type "$right" "${VALUES[*]}"
    lab_tmux_enter "$right"
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc slave
    lab_tmux_wait_done "$left" 10 || return 1
    lab_tmux_save_rc master
    # the screens now, in case the panes are closed before the session ends
    lab_tmux_capture "$left" "$LAB_WORK/master.screen" || true
    lab_tmux_capture "$right" "$LAB_WORK/slave.screen" || true
    lab_tmux_status "done: Ctrl-b d (or exit in both panes) leaves"
}

with_tmux() {
    local id="" mrc src
    lab_heading "Shared memory (notes B1) in tmux: master left, slave right"
    lab_tmux_start shm master slave
    lab_tmux_play tmux_driver
    local driver_rc=$LAB_RC
    [[ ! -s $LAB_WORK/tmux.id ]] || id=$(<"$LAB_WORK/tmux.id")
    mrc=$(lab_tmux_rc master)
    src=$(lab_tmux_rc slave)

    lab_tmux_end "$LAB_WORK/master.screen" "$LAB_WORK/slave.screen" \
        "The master's pane (left)" "The slave's pane (right)"

    echo
    if ((LAB_TMUX_ATTACHED && driver_rc == 130)); then
        # left with Ctrl-b d while it was still typing: nothing to check but the clean-up
        [[ -z $id ]] || lab_check_segment_gone "$id" || true
        lab_fail "the demo did not run to its end (the session was left early): nothing else checked"
        return 0
    fi
    if ((driver_rc != 0)); then
        lab_fail "the tmux demo did not run to its end"
    fi
    if [[ -z $id ]]; then
        lab_fail "no segment id appeared in the master's pane"
        return 0
    fi
    lab_check_lines "the master's pane" "$LAB_WORK/master.screen" \
        "Shared Memory Id = $id" "${READ_LINES[@]}" || true
    lab_check_lines "the slave's pane" "$LAB_WORK/slave.screen" "$PROMPT$id" "${VALUES[*]}" || true
    lab_check_status shm-master "$mrc" || true
    lab_check_status shm-slave "$src" || true
    lab_check_segment_gone "$id" || true
}

# ----------------------------------------------------------------------------------------------

main() {
    lab_demo_start shm-master shm-slave -- "$@"
    if ((LAB_DEMO_TMUX)); then
        with_tmux
    else
        headless
    fi
    lab_finish
}

main "$@"
