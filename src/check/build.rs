//! A student's `.c` file, compiled as the notes' programs are: `cc -Wall -Wextra`, and where the
//! compiler's default C dialect refuses the file (gcc 14 refuses the notes' own programs, which
//! call functions they never declare), again with `-std=gnu89`.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use crate::ui::HintExt as _;

/// The flags every compile uses.
const WARNINGS: [&str; 2] = ["-Wall", "-Wextra"];

/// A compiled program in a folder of its own, removed with it.
#[derive(Debug)]
pub struct Built {
    pub executable: PathBuf,
    /// The command line that built it: `cc -Wall -Wextra -o slave slave.c`.
    pub command: String,
    /// The compiler's warnings, as it printed them (empty: none).
    pub warnings: String,
    dir: PathBuf,
}

impl Drop for Built {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why a compile failed: the command and the compiler's first error.
#[derive(Debug, Clone)]
pub struct CompileError {
    pub command: String,
    pub first_error: String,
    pub all: String,
}

/// The compiler: `$CC` if set, else `cc`.
fn compiler() -> String {
    std::env::var("CC")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "cc".to_string())
}

/// Compile `source`. Err(Ok(CompileError)) is the student's failure (a check fails);
/// Err(Err(..)) is lab-check's (no compiler, no temporary folder).
pub fn compile(source: &Path) -> anyhow::Result<Result<Built, CompileError>> {
    anyhow::ensure!(
        source.is_file(),
        "cannot read {}: no such file",
        source.display()
    );
    let template = std::env::temp_dir().join("lab-check.XXXXXX");
    let dir = nix::unistd::mkdtemp(&template)
        .with_context(|| format!("cannot make a folder in {}", std::env::temp_dir().display()))?;
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("program")
        .to_string();
    let executable = dir.join(&stem);
    let cc = compiler();
    let mut first_failure = None;
    for dialect in [None, Some("-std=gnu89")] {
        let mut args: Vec<String> = dialect.into_iter().map(str::to_string).collect();
        args.extend(WARNINGS.map(str::to_string));
        args.push("-o".into());
        args.push(executable.display().to_string());
        args.push(source.display().to_string());
        // Shown as a student would type it: the executable beside the source, not in the
        // temporary folder it is really built in.
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if *a == executable.display().to_string() {
                    stem.clone()
                } else {
                    a.clone()
                }
            })
            .collect();
        let command = format!(
            "{cc} {}",
            shlex::try_join(shown.iter().map(String::as_str))?
        );
        let out = Command::new(&cc).args(&args).output();
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("cannot run the C compiler {cc}"))
                    .hint(
                        "install a C compiler (gcc: apt install gcc), or set CC to one, or \
                         give lab-check an executable you compiled yourself",
                    );
            }
        };
        let messages = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            return Ok(Ok(Built {
                executable,
                command,
                warnings: messages,
                dir,
            }));
        }
        if first_failure.is_none() {
            first_failure = Some(CompileError {
                command,
                first_error: first_error(&messages),
                all: messages,
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Err(first_failure.expect("two tries were made")))
}

/// The compiler's first error line (`slave.c:12:5: error: ...`), or its first line.
fn first_error(messages: &str) -> String {
    messages
        .lines()
        .find(|l| l.contains("error"))
        .or_else(|| messages.lines().next())
        .unwrap_or("the compiler failed without a message")
        .to_string()
}

/// How many warnings the compiler gave.
pub(crate) fn warning_count(messages: &str) -> usize {
    messages
        .lines()
        .filter(|l| l.contains(": warning:"))
        .count()
}
