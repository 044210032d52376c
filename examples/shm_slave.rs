//! The notes' slave program (B1 Shared Memory), step for step in Rust: it prints what the C
//! slave prints and exits with its status. Start `cargo run --example shm_master` first, then
//! type the id it printed and three numbers here.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering::{Relaxed, Release};

use anyhow::Context;
use ipc_lab::shm::{Access, ShmId};

/// The C program's `main`, step for step; `main` below prints an error and exits 1.
fn run() -> anyhow::Result<()> {
    // scanf("%d", ...): skip blanks, take the word up to the next blank, read it as a number
    // (standard input is read as it is typed, 4 KiB of it at most)
    let mut input = io::stdin().lock().take(4096).bytes().map_while(Result::ok);
    let mut scan = || -> anyhow::Result<i32> {
        let word: String = input
            .by_ref()
            .map(char::from)
            .skip_while(char::is_ascii_whitespace)
            .take_while(|c| !c.is_ascii_whitespace())
            .collect();
        word.parse()
            .context("expected a whole number: the id, then three values")
    };

    print!("Shared memory id for attachment: ");
    io::stdout().flush()?;
    let shmid = ShmId::from_raw(scan()?);

    // attach M: shmat(shmid, NULL, 0)
    let shm = shmid
        .attach(Access::ReadWrite)
        .inspect_err(|_| println!("Error: Cannot attach!"))?;

    // write the values first: shm[i+1] = input
    for i in 0..3 {
        shm.store(i + 1, scan()?, Relaxed)?;
    }

    // shm[0] = 1 last, with a release store: whoever sees the flag sees the values too
    shm.store(0, 1, Release)?;
    // detach M: shmdt(shm); destroying it (step 5) is the master's job
    shm.detach()?;
    Ok(())
}

fn main() -> ExitCode {
    if let Err(err) = run() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
