//! The notes' four programs in plain Rust (`examples/`): each prints on stdout, byte for byte,
//! what the notes' C program prints, and exits with its status. The C programs are compiled
//! from the notes as printed there. The shared-memory pair also works with the C pair, each way
//! round, and leaves no segment behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{
    TempDir, notes_program, read_lines, remove_segment, segment, segment_exists,
    segments_created_by, shell_status,
};

/// The marker that finds each of the notes' C programs, and the example that mirrors it.
const SHM_MASTER: (&str, &str) = ("Shared Memory Id = ", "shm_master");
const SHM_SLAVE: (&str, &str) = ("Shared memory id for attachment: ", "shm_slave");
const PIPE_HELLO: (&str, &str) = ("Hello There!", "pipe_hello");
const SIG_SEGV: (&str, &str) = ("Memory access blows up!", "sig_segv");

/// How long a program may take to end, or the master to start waiting, on a busy machine: the
/// masters look at the flag every 3 s, and the C compiler and cargo run meanwhile.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long the examples may take to build, on a busy machine.
const BUILD_PATIENCE: Duration = Duration::from_secs(900);

/// Where cargo puts the examples: `target/<profile>/examples`, beside the `deps` folder that
/// holds this test binary. `cargo test` builds them, but `cargo test --test lab` does not:
/// they are built here, once a run, with this test binary's profile (cargo finds them fresh
/// when `cargo test` has built them already).
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary in target/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target/<profile>");
        let profile = profile_dir.file_name().and_then(|n| n.to_str());
        // The cargo that runs this test says where it is; else the one that built it.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "--examples", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        match profile {
            Some("debug") => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(other) => {
                build.args(["--profile", other]);
            }
            None => panic!("no profile in {}", profile_dir.display()),
        }
        let built = start_command(&mut build, b"").finish_within(BUILD_PATIENCE);
        assert_eq!(built.status, 0, "cargo build --examples: {built:?}");
        profile_dir.join("examples")
    })
}

/// The example `name`, built.
fn example(name: &str) -> PathBuf {
    let path = examples_dir().join(name);
    assert!(path.is_file(), "no example {}", path.display());
    path
}

/// The notes' C program found by `marker`, compiled as `dir/NAME` as a student compiles it
/// (`cc -o NAME NAME.c`, warnings silenced), or, where the compiler refuses its calls of
/// undeclared functions (gcc 14 does), with `-std=gnu89`.
fn compile((marker, name): (&str, &str), dir: &TempDir) -> PathBuf {
    let source = dir.path.join(format!("{name}.c"));
    std::fs::write(&source, notes_program(marker)).expect("write a C file");
    let exe = dir.path.join(name);
    let mut errors = String::new();
    for dialect in [None, Some("-std=gnu89")] {
        let out = Command::new("cc")
            .args(dialect)
            .args(["-w", "-o"])
            .arg(&exe)
            .arg(&source)
            .output()
            .unwrap_or_else(|e| panic!("cc is needed to compile the notes' programs: {e}"));
        if out.status.success() {
            return exe;
        }
        errors.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    panic!("cc cannot compile the notes' {name}.c:\n{errors}");
}

/// What a program run to its end printed on stdout (compared byte for byte), its status as a
/// shell shows it, and its stderr (shown, never compared).
struct Ran {
    stdout: Vec<u8>,
    status: i32,
    stderr: String,
}

impl Ran {
    /// Its stdout and status, to compare with another program's.
    fn seen(&self) -> (String, i32) {
        (self.stdout.escape_ascii().to_string(), self.status)
    }
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}, stdout \"{}\", stderr {:?}",
            self.status,
            self.stdout.escape_ascii(),
            self.stderr
        )
    }
}

/// A program started with its input given; its stdout and stderr are read to their end by
/// threads of their own. Dropping it kills the program if it still runs.
struct Started {
    child: Child,
    stdout: Receiver<Vec<u8>>,
    stderr: Receiver<Vec<u8>>,
}

fn to_the_end(stream: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut stream = stream;
        let _ = stream.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

fn start(program: &Path, stdin: &[u8]) -> Started {
    start_command(&mut Command::new(program), stdin)
}

fn start_command(command: &mut Command, stdin: &[u8]) -> Started {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    // A program that ends before it reads all its input is fine: ignore a broken pipe.
    let _ = input.write_all(stdin);
    drop(input);
    let stdout = to_the_end(child.stdout.take().expect("stdout"));
    let stderr = to_the_end(child.stderr.take().expect("stderr"));
    Started {
        child,
        stdout,
        stderr,
    }
}

impl Started {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether it has ended (reaped if so).
    fn ended(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Wait for it to end and for its stdout and stderr to close (a child it forked and left
    /// may hold them after it ends), at most PATIENCE.
    fn finish(&mut self) -> Ran {
        self.finish_within(PATIENCE)
    }

    fn finish_within(&mut self, patience: Duration) -> Ran {
        let deadline = Instant::now() + patience;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not end in time", self.child.id());
            }
            thread::sleep(Duration::from_millis(5));
        };
        let take = |rx: &Receiver<Vec<u8>>, what: &str| {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("the {what} of {} stayed open", self.child.id()))
        };
        Ran {
            stdout: take(&self.stdout, "stdout"),
            stderr: String::from_utf8_lossy(&take(&self.stderr, "stderr")).into_owned(),
            status: shell_status(status),
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run `program` to its end with `stdin` as its input.
fn run(program: &Path, stdin: &[u8]) -> Ran {
    start(program, stdin).finish()
}

/// Whether process `pid` sleeps in nanosleep(2) or clock_nanosleep(2) now (per
/// /proc/PID/syscall): the master's sleep(3) between two looks at the flag.
fn sleeping(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| {
        let nr = s.split_whitespace().next().unwrap_or("");
        [libc::SYS_nanosleep, libc::SYS_clock_nanosleep]
            .iter()
            .any(|call| nr == call.to_string())
    })
}

/// Should a test fail midway, the segments its master made go with it.
struct SegmentsOf(i32);

impl Drop for SegmentsOf {
    fn drop(&mut self) {
        if thread::panicking() {
            for line in segments_created_by(&[self.0]) {
                if let Some(id) = line.split_whitespace().nth(1).and_then(|f| f.parse().ok()) {
                    remove_segment(id);
                }
            }
        }
    }
}

/// A master and a slave, either one the notes' C program or our example, and what each did.
struct Exchange {
    id: i32,
    master: Ran,
    slave: Ran,
}

/// The notes' dialogue: the master starts; once it has attached its segment and sleeps
/// between two looks at the flag (so the flag is cleared), the slave is given the segment's id
/// and 5, 7 and -9. The id is read from the kernel's table (the segment the master made), as
/// the C master's stdout sits in its buffer until it ends. Afterwards the segment is gone.
fn exchange(master: &Path, slave: &Path) -> Exchange {
    let mut master = start(master, b"");
    let pid = master.pid();
    let _cleanup = SegmentsOf(pid);
    let started = Instant::now();
    let id = loop {
        assert!(!master.ended(), "the master ended: {:?}", master.finish());
        let id: Option<i32> = segments_created_by(&[pid])
            .first()
            .and_then(|line| line.split_whitespace().nth(1)?.parse().ok());
        if let Some(id) = id.filter(|&id| segment(id).is_some_and(|row| row.nattch == 1)) {
            if sleeping(pid) {
                break id;
            }
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the master did not attach its segment ({id:?}) and sleep in time"
        );
        thread::sleep(Duration::from_millis(10));
    };
    let slave = run(slave, format!("{id}\n5 7 -9\n").as_bytes());
    let master = master.finish();
    assert!(
        !segment_exists(id),
        "segment {id} is still in /proc/sysvipc/shm; master {master:?}, slave {slave:?}"
    );
    Exchange { id, master, slave }
}

/// What the notes' master prints in that dialogue, for segment `id`.
fn master_says(id: i32) -> Vec<u8> {
    format!("Shared Memory Id = {id}\n{}", read_lines(&[5, 7, -9])).into_bytes()
}

#[test]
fn pipe_hello_prints_and_exits_as_the_notes_program() {
    let dir = TempDir::new("examples-pipe");
    let c = run(&compile(PIPE_HELLO, &dir), b"");
    let rust = run(&example(PIPE_HELLO.1), b"");
    assert_eq!(rust.seen(), c.seen(), "example {rust:?}\nC {c:?}");
    assert_eq!(rust.stdout, b"Proc 0 read: Hello There!\n", "{rust:?}");
    assert_eq!(rust.status, 0, "{rust:?}");
}

#[test]
fn sig_segv_prints_and_exits_as_the_notes_program() {
    let dir = TempDir::new("examples-segv");
    let c = run(&compile(SIG_SEGV, &dir), b"");
    let rust = run(&example(SIG_SEGV.1), b"");
    assert_eq!(rust.seen(), c.seen(), "example {rust:?}\nC {c:?}");
    assert_eq!(rust.stdout, b"Memory access blows up!\n", "{rust:?}");
    assert_eq!(rust.status, 1, "{rust:?}");
}

#[test]
fn the_shm_pair_prints_and_exits_as_the_notes_pair() {
    let dir = TempDir::new("examples-shm");
    let c = exchange(&compile(SHM_MASTER, &dir), &compile(SHM_SLAVE, &dir));
    let rust = exchange(&example(SHM_MASTER.1), &example(SHM_SLAVE.1));
    for (side, c_ran, rust_ran, c_id, rust_id) in [
        ("master", &c.master, &rust.master, c.id, rust.id),
        ("slave", &c.slave, &rust.slave, c.id, rust.id),
    ] {
        // The ids differ from run to run: each stands as ID.
        let as_id = |ran: &Ran, id: i32| {
            let (stdout, status) = ran.seen();
            (stdout.replace(&format!("= {id}\\n"), "= ID\\n"), status)
        };
        assert_eq!(
            as_id(rust_ran, rust_id),
            as_id(c_ran, c_id),
            "the {side}s: example {rust_ran:?}\nC {c_ran:?}"
        );
    }
    assert_eq!(
        rust.master.stdout,
        master_says(rust.id),
        "{:?}",
        rust.master
    );
    assert_eq!(rust.slave.stdout, b"Shared memory id for attachment: ");
    assert_eq!((rust.master.status, rust.slave.status), (0, 0));
}

#[test]
fn the_example_master_fed_by_the_notes_slave() {
    let dir = TempDir::new("examples-master");
    let ran = exchange(&example(SHM_MASTER.1), &compile(SHM_SLAVE, &dir));
    assert_eq!(ran.master.stdout, master_says(ran.id), "{:?}", ran.master);
    assert_eq!(ran.master.status, 0, "{:?}", ran.master);
    assert_eq!(ran.slave.stdout, b"Shared memory id for attachment: ");
    assert_eq!(ran.slave.status, 0, "{:?}", ran.slave);
}

#[test]
fn the_notes_master_fed_by_the_example_slave() {
    let dir = TempDir::new("examples-slave");
    let ran = exchange(&compile(SHM_MASTER, &dir), &example(SHM_SLAVE.1));
    assert_eq!(ran.master.stdout, master_says(ran.id), "{:?}", ran.master);
    assert_eq!(ran.master.status, 0, "{:?}", ran.master);
    assert_eq!(ran.slave.stdout, b"Shared memory id for attachment: ");
    assert_eq!(ran.slave.status, 0, "{:?}", ran.slave);
}

#[test]
fn the_shm_slave_given_no_segment_prints_and_exits_as_the_notes_slave() {
    // -1 is no segment's id: shmat fails (EINVAL) for both.
    let dir = TempDir::new("examples-no-segment");
    let c = run(&compile(SHM_SLAVE, &dir), b"-1\n5 7 -9\n");
    let rust = run(&example(SHM_SLAVE.1), b"-1\n5 7 -9\n");
    assert_eq!(rust.seen(), c.seen(), "example {rust:?}\nC {c:?}");
    assert_eq!(
        rust.stdout,
        b"Shared memory id for attachment: Error: Cannot attach!\n"
    );
    assert_eq!(rust.status, 1, "{rust:?}");
}
