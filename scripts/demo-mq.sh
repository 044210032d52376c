#!/usr/bin/env bash
# The message-queue demo (lecture notes B2): one receiver, two senders with different priorities.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--pace SECS] [--step] [--bin-dir DIR]

The message-passing demo (lecture notes B2): mq-recv creates a mailbox (a POSIX message queue
named /ipc-lab-demo-PID, this run's own) and holds: it receives nothing until Enter, so messages
pile up in the kernel. A sender at priority 1 sends low-1 low-2 low-3, then a sender at priority 5
sends high-1 high-2. After Enter the receiver takes all five: the highest priority first, and
within one priority the oldest first. It then removes the queue (--unlink).

Checks: the receiver found 5 messages waiting and printed, in this order,
  priority 5, 6 bytes: high-1
  priority 5, 6 bytes: high-2
  priority 1, 5 bytes: low-1
  priority 1, 5 bytes: low-2
  priority 1, 5 bytes: low-3
all three programs exit 0, and the queue is gone afterwards (mq-recv --attr finds no such queue).

Options:
  (none)          Headless: the receiver and the senders run here as processes; their output is
                  labelled [recv] and [send]. The senders narrate their calls (--explain); Enter
                  is written to the receiver's input.
  --tmux          Two tmux panes, receiver left, senders right, the commands typed as a person
                  would, then Enter pressed in the receiver's pane.
$(lab_options_help)
EOF
}

LAB_STEPS=(
    "the receiver creates the mailbox and holds it: it receives nothing until Enter, so what is sent meanwhile waits in the kernel"
    "a sender at priority 1 sends low-1 low-2 low-3 (--explain shows each mq_send call)"
    "a sender at priority 5 sends high-1 high-2"
    "Enter in the receiver's terminal: it takes priority 5 first, then priority 1, and within one priority the oldest first (FIFO)"
)

play() {
    local q=$LAB_QUEUE
    lab_heading "Message queues (notes B2): a receiver, and two senders with different priorities"
    lab_say "mq-recv creates the mailbox $q, then holds: it receives nothing until Enter, so" \
        "what is sent meanwhile waits in the kernel. -v shows each message's priority and size."
    lab_step L
    lab_run L mq-recv --verbose --hold --unlink --count 5 "$q"
    lab_await L 'holding: press Enter'
    lab_step R
    lab_run R mq-send --explain -p 1 "$q" low-1 low-2 low-3
    lab_end R
    lab_step R
    lab_run R mq-send --explain -p 5 "$q" high-1 high-2
    lab_end R
    lab_say "Sent in this order: low-1 low-2 low-3 high-1 high-2."
    lab_step R
    lab_type L ""
    lab_end L
    lab_expect L "mq-recv: receiving: 5 waiting" "priority 5, 6 bytes: high-1" \
        "priority 5, 6 bytes: high-2" "priority 1, 5 bytes: low-1" "priority 1, 5 bytes: low-2" \
        "priority 1, 5 bytes: low-3"
    lab_gone mq "$q"
}

lab_demo_start mq-send mq-recv -- "$@"
# a name of this run's own; the trap removes the queue should the receiver not get to
lab_queue_name /ipc-lab-demo
lab_panes mq recv send
play
lab_finish
