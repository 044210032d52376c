//! The notes' master program (B1 Shared Memory), step for step in Rust: it prints what the C
//! master prints and exits with its status. Run it, then `cargo run --example shm_slave` in
//! another terminal and type the id it printed and three numbers.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::thread::sleep;
use std::time::Duration;

use ipc_lab::shm::{Access, CreateOptions, Segment};

/// The C program's `main`, step for step; `main` below prints an error and exits 1.
fn run() -> anyhow::Result<()> {
    // step 1 -> create shared memory: shmget(IPC_PRIVATE, 40, IPC_CREAT | 0600)
    let mut segment = Segment::create(&CreateOptions::private(40))
        .inspect_err(|_| println!("Cannot create shared memory!"))?;
    let shmid = segment.id();

    // step 2 -> attach shared memory: shmat(shmid, NULL, 0)
    let shm = shmid.attach(Access::ReadWrite).inspect_err(|_| {
        println!("Shared Memory Id = {shmid}");
        println!("Cannot attach shared memory!");
    })?; // on this way out, dropping `segment` destroys it (the C leaves it behind)

    // shm[0] = 0; the C prints the id before it attaches, and can wipe the flag of a slave
    // that was quick: printed once the flag is clear, the id cannot come too early
    shm.store(0, 0, Relaxed)?;
    println!("Shared Memory Id = {shmid}");
    // the flag with an acquire load: once it reads 1, the slave's values are there too
    while shm.load(0, Acquire) == Some(0) {
        sleep(Duration::from_secs(3));
    }

    for i in 0..3 {
        let value = shm.load(i + 1, Relaxed).unwrap_or_default(); // None only past int 9
        println!("Read {value} from shared memory.");
    }

    // steps 4 and 5 -> detach and destroy M: shmdt(shm), shmctl(shmid, IPC_RMID, 0)
    shm.detach()?;
    segment.remove()?;
    Ok(())
}

fn main() -> ExitCode {
    if let Err(err) = run() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
