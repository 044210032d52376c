//! The notes' pipe program (B3 Unix Pipe), step for step in Rust: the parent writes "Hello
//! There!" into a pipe, the child it forked reads it and prints what the C child prints.
//! `cargo run --example pipe_hello`.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::process::ExitCode;

use ipc_lab::pipe::{Pipe, pipe};
use ipc_lab::sys::{close_in_child, fork};

/// The C program's `main`, step for step; `main` below prints an error and exits 1.
fn run() -> anyhow::Result<()> {
    let str = c"Hello There!";

    // pipe(pipeFd): pipeFd[0] is the reading end, pipeFd[1] the writing end
    let Pipe { read, write } = pipe(false)?;
    let (mut read_end, mut write_end) = (File::from(read), File::from(write));

    // fork(): the closure is the child proc; the parent goes on below with `child`
    let mut child = fork(|| {
        // child proc: close(pipeFd[WRITE_END]), then read(pipeFd[READ_END], buf, sizeof buf)
        close_in_child(&write_end);
        let mut buf = [0u8; 100];
        let len = read_end.read(&mut buf).unwrap_or(0);
        // printf("Proc %d read: %s\n", pid, buf): pid is what fork() returned here, 0, and
        // %s stops at the NUL the parent sent
        let text = buf[..len].split(|&b| b == 0).next().unwrap_or_default();
        println!("Proc 0 read: {}", String::from_utf8_lossy(text));
        0 // the exit status; leaving, the child closes pipeFd[READ_END]
    })?;

    // parent proc: close(pipeFd[READ_END]), write strlen(str) + 1 bytes (the text and its NUL),
    // close(pipeFd[WRITE_END])
    drop(read_end);
    write_end.write_all(str.to_bytes_with_nul())?;
    drop(write_end);

    // unlike the C parent, wait for the child: it may otherwise print after the shell's prompt
    child.wait()?;
    Ok(())
}

fn main() -> ExitCode {
    if let Err(err) = run() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
