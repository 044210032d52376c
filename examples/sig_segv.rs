//! The notes' signal program (B4 Unix Signal), step for step in Rust: a handler of its own for
//! SIGSEGV, then an invalid memory access; it prints what the C program prints and exits with
//! its status. `cargo run --example sig_segv`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use ipc_lab::signal::{handle_memory_errors, invalid_memory_access};

fn main() -> ExitCode {
    // SIGSEGV -> the code handles this to prevent segfaults: signal(SIGSEGV, myOwnHandler).
    // The handler lives in the library (installing one takes `unsafe`, and it may only call
    // async-signal-safe functions); like myOwnHandler it prints "Memory access blows up!" and
    // exits with status 1.
    if handle_memory_errors().is_err() {
        println!("Failed to register handler");
    }

    // *ip = 123 with ip = NULL: a write where no memory is. Rust may not write through a null
    // pointer, so this writes to a page mapped with no access, which faults for certain.
    if let Err(err) = invalid_memory_access() {
        eprintln!("error: {err:#}"); // it did not fault: not reached on Linux
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS // return 0: not reached either, the handler has ended the process
}
