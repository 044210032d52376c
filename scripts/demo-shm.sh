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

Checks: the master prints its segment's id and "Read 5 from shared memory." (7, -9), both
programs exit 0, and the segment is gone afterwards (/proc/sysvipc/shm); so for the --explain run.

Options:
  (none)          Headless: both programs run here as processes, the slave given the id and the
                  values on its input as in the notes' dialogue; their output is labelled
                  [master] and [slave]. A second run with --explain narrates the five steps.
  --tmux          Two tmux panes, master left, slave right, the commands typed as a person would.
$(lab_options_help)
EOF
}

VALUES="5 7 -9"
LAB_STEPS=(
    "the master creates a segment of 40 bytes, attaches it, prints its id and waits for the ready flag"
    "the slave is given the id and three numbers: it attaches the segment, writes them, then sets the flag; the master reads them, detaches and destroys the segment"
    "the same with --explain: the master narrates each of its steps (on stderr)"
    "the slave with --explain, given the id and the numbers as arguments"
)

# pair [--explain]: one master and one slave, the slave as in the notes' dialogue (the id and the
# values typed at its prompt), or with --explain given them as arguments.
pair() {
    local id
    lab_step L
    lab_run L shm-master "$@" --interval 0.1
    lab_await L '^Shared Memory Id = ([0-9]+)$'
    id=${LAB_MATCH[1]}
    lab_track shm "$id" "$LAB_PID"
    lab_step R
    if (($# == 0)); then
        lab_run R shm-slave
        lab_await R '^Shared memory id for attachment:'
        lab_type R "$id"
        lab_type R "$VALUES"
    else
        # shellcheck disable=SC2086 # the values, one argument each
        lab_run R shm-slave --explain "$id" $VALUES
    fi
    lab_end R
    lab_end L
    lab_expect L "Read 5 from shared memory." "Read 7 from shared memory." "Read -9 from shared memory."
    lab_gone shm "$id"
}

play() {
    lab_heading "Shared memory (notes B1): the master and the slave, as in the notes' dialogue"
    lab_say "shm-master creates and attaches a segment, prints its id and looks at the ready flag every" \
        "0.1 s; shm-slave gets the id and the values, writes them, then sets the flag."
    pair
    lab_heading "The same with --explain: each side narrates the five steps (on stderr)"
    lab_say "This time the slave takes the id and the values as arguments."
    pair --explain
}

lab_demo_start shm-master shm-slave -- "$@"
lab_panes shm master slave
play
lab_finish
