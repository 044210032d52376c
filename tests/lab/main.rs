//! The behaviour tests: every binary run as real processes, one module per mechanism of the
//! notes, in one test crate (tests/docs.rs and tests/coverage.rs are crates of their own).
//!
//! - [`procs`]: proc-demo (notes A); [`shm`]: shm-master and shm-slave (B1); [`sync`]: shm-race
//!   (B1, synchronisation); [`mq`]: mq-send and mq-recv (B2); [`pipe`]: pipe-demo (B3);
//!   [`signal`]: sig-demo (B4); [`bench`]: ipc-bench; [`check`]: lab-check, a submodule per
//!   exercise; [`examples`]: the notes' four programs in plain Rust beside the C ones;
//!   [`limits`]: the system's limits reached; [`parsers`]: property tests of the library's
//!   parsers.
//! - [`faults`] and [`bad_input`]: what every binary must survive, termination signals wherever
//!   it waits, and bad arguments and input. Each mechanism's module holds its binaries' rows of
//!   those tables, beside its other tests.
//! - [`common`]: the helpers, a file per concern.
//!
//! `cargo test --test lab` runs them all; `cargo test --test lab pipe::` the tests of one module.

mod common;

mod bad_input;
mod bench;
mod check;
mod examples;
mod faults;
mod install;
mod limits;
mod mq;
mod parsers;
mod pipe;
mod procs;
mod shm;
mod signal;
mod sync;
