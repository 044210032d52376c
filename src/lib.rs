//! ipc-lab: a teaching toolkit for Unix inter-process communication.
//!
//! Each section of the lecture notes (`shared/seed/ipc-lecture-notes.md`) has a module here and
//! one or more binaries that show it, two processes at a time. With no options a binary prints
//! on stdout exactly what the notes' C program prints, and exits with its status; where it goes
//! about it differently (`shm-master` attaches before it prints the id, say), its `--help` says
//! what differs. Its options show every point the notes make. The notes' four programs are also
//! written plainly in Rust, step for step beside the C, over the safe types of this library:
//! the example column (`cargo run --example shm_master`).
//!
//! | notes                                  | module     | binaries                   | example (the notes' program in plain Rust) | lab sheet                   |
//! |----------------------------------------|------------|----------------------------|--------------------------------------------|-----------------------------|
//! | A Motivation: processes are isolated by default; cooperating ones can split work for a speedup | [`procs`]; lessons: `src/procs/isolation.rs`, `speedup.rs`, `context.rs` | `proc-demo` |  | `docs/00-why-ipc.md` |
//! | B1 Shared memory: steps 1-5, master and slave programs | [`shm`]; lessons: `src/shm/master.rs`, `detach_destroy.rs`, `inspect.rs`, `slave.rs`, `dialogue.rs` | `shm-master`, `shm-slave` | `examples/shm_master.rs`, `examples/shm_slave.rs` | `docs/01-shared-memory.md` |
//! | B1 Shared memory needs synchronisation, and can lack security: lost updates, torn reads, semaphores and atomics, permissions | [`sync`], [`shm`]; lessons: `src/sync/counter.rs`, `cures.rs`, `torn.rs`, `others.rs`, `join.rs`; `src/shm/check.rs` | `shm-race`, `shm-slave --check`, `shm-master --perms` |  | `docs/05-synchronisation-and-security.md` |
//! | B2 Message passing: mailboxes (ports), direct and indirect naming, priorities, blocking or not | [`mq`], [`mq::net`]; lessons: `src/mq/send.rs`, `receive.rs`, `open.rs`, `unlink.rs`, `hold.rs`, `size.rs`, `attr.rs`, `direct.rs`, `pairs.rs`, `net/listen.rs`, `net/connect.rs`, `net/show_wire.rs` | `mq-send`, `mq-recv` |  | `docs/02-message-passing.md` |
//! | B3 Unix pipe: a bounded byte buffer, blocking, dup2 and the shell's `|`, FIFOs | [`pipe`]; lessons, a subcommand each: `src/pipe/hello.rs` (the notes' program), `fail.rs`, `dup.rs`, `redirect.rs`, `capacity.rs`, `blocking.rs`, `eof.rs`, `broken.rs`, `duplex.rs`, `writers.rs`, `readers.rs`, `anon.rs`, `fifo.rs` | `pipe-demo` | `examples/pipe_hello.rs` | `docs/03-pipes.md` |
//! | B4 Unix signal: default and user handlers, real faults, stop and continue, coalescing | [`signal`]; lessons: `src/signal/segv.rs`, `no_handler.rs`, `fpe.rs`, `wait.rs`, `send.rs`, `uncatchable.rs`, `pending.rs`, `threads.rs`, `list.rs`, `list_pid.rs` | `sig-demo` | `examples/sig_segv.rs` | `docs/04-signals.md` |
//! | B1 and B2 speed claims: shared memory "very fast", message passing "inefficient"; latency, throughput and the floor, on one CPU or two | [`bench`](mod@bench); lessons: `src/bench/floor.rs`, `latency.rs`, `throughput.rs` | `ipc-bench` |  | `docs/06-measuring.md` |
//! | Exercises: every section's program, written by the student and checked against ipc-lab's own | [`check`]; an exercise a file: `src/check/shm_slave.rs`, `shm_master.rs`, `pipe_hello.rs`, `pipeline.rs`, `sig_segv.rs`, `mq_receive.rs` | `lab-check` |  | `docs/07-exercises.md` |
//!
//! The modules stand in layers, and none uses a module of a higher layer (`tests/coverage.rs`
//! checks it, and that the mechanisms use one another without a cycle):
//!
//! | layer | modules | what |
//! |-------|---------|------|
//! | 0 | [`sys`] | the kernel side every mechanism shares: the error of a failed system call and its errno's name, poll, processes (fork, `Child`, exec), descriptors, termination signals, System V tables and limits, users, CPUs |
//! | 1 | [`ui`] | what every binary says and how it ends: narration (`--explain`, `--inspect`), colour, errors and hints, exit codes, stdout, standard input read within a bound |
//! | 2 | [`procs`], [`shm`], [`sync`], [`mq`] (with [`mq::net`]), [`pipe`], [`signal`], [`bench`](mod@bench), [`check`] | the mechanisms of the table above, and the exercises' checker (`lab-check`) |
//! | 3 | [`cli`] | the clap pieces the binaries share: the options every binary has, `--key`/`--ftok`, a new queue's size, the value parsers |
//! | 4 | `src/bin/` | one binary per tool: its clap types, help text and dispatch |
//!
//! All `unsafe` code of the project lives in the library's thin wrappers over system calls,
//! each block with a `SAFETY` comment; the binaries have none.

pub mod bench;
pub mod check;
pub mod cli;
pub mod mq;
pub mod pipe;
pub mod procs;
pub mod shm;
pub mod signal;
pub mod sync;
pub mod sys;
pub mod ui;
