#!/usr/bin/env bash
# The shared-memory demo (lecture notes B1): shm-master and shm-slave talking through a segment.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--pace SECS] [--step] [--bin-dir DIR]

The shared-memory demo (lecture notes B1, steps 1 to 5): shm-master creates a 40-byte segment and
waits for its ready flag; shm-slave attaches the segment, writes 5, 7 and -9 and sets the flag; the
master reads the three values, detaches and destroys the segment. Then the same again with
--explain, each side narrating the five steps.

Options:
  (none)          Headless: both programs run here as processes, the slave fed the id and the
                  values on stdin as in the notes' dialogue; their output is labelled [master] and
                  [slave] and checked. A second run with --explain narrates the five steps.
  --tmux          Two tmux panes, master left, slave right, the commands typed as a person would.
$(lab_options_help)

Checks: the master prints the id and "Read 5 from shared memory." (7, -9), both programs exit 0,
and the segment is gone afterwards (/proc/sysvipc/shm); so for the --explain run. Exit status: 0
when every check passed, 1 when one failed, 2 for a usage error.

Examples:
  scripts/demo-shm.sh                     headless, builds first if needed
  scripts/demo-shm.sh --tmux --step       watch it typed into two panes, a key before each step
  scripts/demo-shm.sh --bin-dir target/release
EOF
}

VALUES=(5 7 -9)
READ_LINES=()
for v in "${VALUES[@]}"; do
    READ_LINES+=("Read $v from shared memory.")
done
PROMPT="Shared memory id for attachment: "
LAB_STEPS=(
    "the master creates a segment of 40 bytes, attaches it, prints its id and waits for the ready flag"
    "the slave is given the id and three numbers: it attaches the segment, writes them, then sets the flag; the master reads them, detaches and destroys the segment"
    "the same with --explain: the master narrates each of its steps (on stderr)"
    "the slave with --explain, given the id and the numbers as arguments"
)

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

    lab_step
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

    lab_step
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
    lab_say "shm-master creates and attaches a segment, prints its id and looks at the ready flag every" \
        "0.2 s; shm-slave gets the id and the values on stdin, writes them, then sets the flag."
    run_pair plain

    lab_heading "The same with --explain: each side narrates the five steps (on stderr)"
    lab_say "This time the slave takes the id and the values as arguments."
    run_pair explain --explain
}

# ----------------------------------------------------------------------------------------------
# tmux

# tmux_pair NAME [--explain]: one pair, as run_pair: the master left; with the id it printed (the
# pane's first, or second for --explain), the slave right. The id and the statuses go to files
# (tmux.NAME.id, lab_tmux_save_rc NAME-master and NAME-slave): the driver may run in a subshell.
# shellcheck disable=SC2317
tmux_pair() {
    local name=$1 explain=${2:-} left=$LAB_TMUX_LEFT right=$LAB_TMUX_RIGHT n=1 id
    [[ -z $explain ]] || n=2
    lab_step "$left"
    lab_tmux_run "$left" "shm-master${explain:+ $explain} --interval 0.5"
    lab_tmux_wait_text "$left" '^Shared Memory Id = [0-9]+$' 15 "$n" || return 1
    id=${LAB_LINE##* }
    echo "$id" >"$LAB_WORK/tmux.$name.id"
    lab_track_segment "$id"
    lab_step "$right"
    if [[ -z $explain ]]; then
        # the notes' dialogue: the id at the prompt, then the values
        lab_tmux_run "$right" "shm-slave"
        lab_tmux_wait_text "$right" '^Shared memory id for attachment:' 10 || return 1
        lab_pause 5
        lab_tmux_type "$right" "$id"
        lab_tmux_enter "$right"
        lab_tmux_type "$right" "${VALUES[*]}"
        lab_tmux_enter "$right"
    else
        lab_tmux_run "$right" "shm-slave --explain $id ${VALUES[*]}"
    fi
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc "$name-slave"
    lab_tmux_wait_done "$left" 10 || return 1
    lab_tmux_save_rc "$name-master"
}

# Types both pairs into the panes. Called through lab_tmux_play.
# shellcheck disable=SC2317
tmux_driver() {
    tmux_pair plain || return 1
    tmux_pair explain --explain || return 1
    # the screens now, in case the panes are closed before the session ends
    lab_tmux_capture "$LAB_TMUX_LEFT" "$LAB_WORK/master.screen" || true
    lab_tmux_capture "$LAB_TMUX_RIGHT" "$LAB_WORK/slave.screen" || true
}

with_tmux() {
    local id name explain out=$LAB_WORK/pane.lines
    lab_heading "Shared memory (notes B1) in tmux: master left, slave right"
    lab_tmux_start shm master slave
    lab_tmux_play tmux_driver
    local driver_rc=$LAB_RC
    lab_tmux_end "$LAB_WORK/master.screen" "$LAB_WORK/slave.screen" \
        "The master's pane (left)" "The slave's pane (right)"

    echo
    if lab_tmux_left_early "$driver_rc"; then
        for name in plain explain; do
            [[ ! -s $LAB_WORK/tmux.$name.id ]] || lab_check_segment_gone "$(<"$LAB_WORK/tmux.$name.id")" || true
        done
        return 0
    fi
    ((driver_rc == 0)) || lab_fail "the tmux demo did not run to its end"
    for name in plain explain; do
        explain=""
        [[ $name == plain ]] || explain=" --explain"
        if [[ ! -s $LAB_WORK/tmux.$name.id ]]; then
            lab_fail "no segment id appeared in the master's pane (shm-master$explain)"
            continue
        fi
        id=$(<"$LAB_WORK/tmux.$name.id")
        lab_screen_output "$LAB_WORK/master.screen" 'master$' "shm-master$explain --interval 0.5" >"$out"
        lab_check_lines "shm-master$explain's output in its pane" "$out" \
            "Shared Memory Id = $id" "${READ_LINES[@]}" || true
        if [[ -z $explain ]]; then
            lab_screen_output "$LAB_WORK/slave.screen" 'slave$' shm-slave >"$out"
            lab_check_lines "shm-slave's pane" "$out" "$PROMPT$id" "${VALUES[*]}" || true
        fi
        lab_check_status "shm-master$explain" "$(lab_tmux_rc "$name-master")" || true
        lab_check_status "shm-slave$explain" "$(lab_tmux_rc "$name-slave")" || true
        lab_check_segment_gone "$id" || true
    done
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
