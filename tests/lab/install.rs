//! Installed like a real tool: every program's `--generate man` renders with man, without a groff
//! warning, its name and one-line description in NAME; each shell's completions parse in that
//! shell (where it is installed: otherwise the test says skipped) and bash's complete a
//! subcommand; a bad `--generate` is a usage error naming the kinds, and `--help` leaves the
//! option out. Then scripts/install.sh, run with a home folder of its own: the files land where
//! the README says, man finds the pages as the README says, and a second run changes nothing.
//!
//! man itself is required (CI installs man-db): without it the man tests fail and say so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

/// Every program of the package.
const PROGRAMS: &[&str] = &[
    "shm-master",
    "shm-slave",
    "pipe-demo",
    "mq-send",
    "mq-recv",
    "sig-demo",
    "shm-race",
    "proc-demo",
    "ipc-bench",
    "lab-check",
];

/// The kinds `--generate` takes, and the shell that reads each (none for the man page).
const KINDS: &[(&str, Option<&str>)] = &[
    ("man", None),
    ("complete-bash", Some("bash")),
    ("complete-zsh", Some("zsh")),
    ("complete-fish", Some("fish")),
    ("complete-powershell", Some("pwsh")),
];

/// `name --generate kind`'s stdout, after checking that it succeeded, said nothing on stderr
/// and printed something.
#[track_caller]
fn generated(name: &str, kind: &str) -> String {
    let out = output_of(&mut cmd_with(name, &["--generate", kind]), b"");
    assert_eq!(
        (shell_status(out.status), out.stderr.as_str()),
        (0, ""),
        "{name} --generate {kind}"
    );
    assert!(
        !out.stdout.trim().is_empty(),
        "{name} --generate {kind}: empty"
    );
    out.stdout
}

/// Whether `program` can be run from PATH.
fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", "command -v \"$1\" >/dev/null", "sh", program])
        .status()
        .is_ok_and(|s| s.success())
}

/// man, or a clear failure: the man tests are no test without it.
fn need_man() {
    assert!(
        on_path("man"),
        "man is missing: install man-db (apt-get install man-db; .ci/run does)"
    );
}

/// The man page in `file` as man shows it 80 columns wide, unhyphenated: its text, and its
/// stderr with groff's warnings turned on.
fn render_man(file: &Path) -> (String, String) {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(file)
        .env("MANWIDTH", "80")
        .env("MANROFFOPT", "-rHY=0")
        .env("LC_ALL", "C.UTF-8")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .stdin(Stdio::null())
        .output()
        .expect("man runs");
    assert!(out.status.success(), "man -l {}: {out:?}", file.display());
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `text` with its words joined by single spaces, and the dashes and quotes groff may print
/// (‐ − ’) as the ASCII ones.
fn words(text: &str) -> String {
    text.replace(['\u{2010}', '\u{2212}'], "-")
        .replace('\u{2019}', "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of section `heading` of a rendered page, up to the next heading.
fn section(page: &str, heading: &str) -> String {
    page.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The program's one-line description: the first paragraph of its `--help`.
fn about(name: &str) -> String {
    let out = output_of(&mut cmd_with(name, &["--help"]), b"");
    words(out.stdout.split("\n\n").next().unwrap_or(""))
}

#[test]
fn every_man_page_renders_with_its_name_and_description() {
    need_man();
    let dir = TempDir::new("man");
    for name in PROGRAMS {
        let file = dir.path.join(format!("{name}.1"));
        std::fs::write(&file, generated(name, "man")).unwrap();
        let (page, warnings) = render_man(&file);
        assert_eq!(warnings, "", "{name}: groff's warnings");
        let title = format!("{}(1)", name.to_uppercase());
        assert!(page.starts_with(&title), "{name}: {page}");
        assert_eq!(
            words(&section(&page, "NAME")),
            format!("{name} - {}", about(name)),
            "{name}"
        );
        for heading in ["SYNOPSIS", "DESCRIPTION", "OPTIONS", "VERSION"] {
            assert!(
                page.contains(&format!("\n{heading}\n")),
                "{name}: {heading}"
            );
        }
        assert!(!page.contains("--generate"), "{name}: {page}");
    }
}

#[test]
fn the_man_page_of_pipe_demo_has_every_subcommand_with_its_options() {
    need_man();
    let dir = TempDir::new("man-subcommands");
    let file = dir.path.join("pipe-demo.1");
    std::fs::write(&file, generated("pipe-demo", "man")).unwrap();
    let (page, _) = render_man(&file);
    let subcommands = section(&page, "SUBCOMMANDS");
    let help = output_of(&mut cmd_with("pipe-demo", &["--help"]), b"").stdout;
    let listed: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|sub| *sub != "help")
        .collect();
    assert!(listed.len() >= 14, "{help}");
    for sub in listed {
        assert!(
            subcommands.contains(&format!("\n   pipe-demo {sub}\n")),
            "{sub}: {subcommands}"
        );
    }
    // A subcommand's own options and its examples are under its heading.
    let writers = subcommands
        .split("\n   pipe-demo ")
        .find(|s| s.starts_with("writers\n"))
        .expect("pipe-demo writers");
    for option in ["--writers", "--record-size", "--records"] {
        assert!(writers.contains(option), "{option}: {writers}");
    }
    let capacity = subcommands
        .split("\n   pipe-demo ")
        .find(|s| s.starts_with("capacity\n"))
        .expect("pipe-demo capacity");
    assert!(
        capacity.contains("pipe-demo capacity --size 5000"),
        "{capacity}"
    );
}

#[test]
fn every_completion_is_parsed_by_its_shell() {
    let dir = TempDir::new("completions");
    let mut skipped = Vec::new();
    for (kind, shell) in KINDS {
        let Some(shell) = shell else { continue };
        let present = on_path(shell);
        if !present {
            skipped.push(*shell);
        }
        for name in PROGRAMS {
            let text = generated(name, kind);
            assert!(text.contains(name), "{name} --generate {kind}");
            if !present {
                continue;
            }
            let file = dir.path.join(format!("{name}.{shell}"));
            std::fs::write(&file, text).unwrap();
            let out = Command::new(shell)
                .arg("-n")
                .arg(&file)
                .stdin(Stdio::null())
                .output()
                .expect("the shell runs");
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{shell} -n {name}'s completions: {out:?}"
            );
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "skipped: parsing the completions of {} (not installed); each was generated",
            skipped.join(", ")
        );
    }
}

/// What bash's completion of `line` (the words typed, the last one the word being completed)
/// offers, with pipe-demo's generated completions loaded.
fn bash_completes(line: &[&str]) -> Vec<String> {
    let dir = TempDir::new("bash-complete");
    let file = dir.path.join("pipe-demo.bash");
    std::fs::write(&file, generated("pipe-demo", "complete-bash")).unwrap();
    let script = r#"
        source "$1"; shift
        spec=$(complete -p pipe-demo) || exit 3
        function=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        "$function" pipe-demo "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        ((${#COMPREPLY[@]} == 0)) || printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script, "bash"])
        .arg(&file)
        .args(line)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{line:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_pipe_demos_subcommands_and_their_options() {
    assert_eq!(bash_completes(&["pipe-demo", "redi"]), ["redirect"]);
    assert_eq!(
        bash_completes(&["pipe-demo", "writers", "--rec"]),
        ["--record-size", "--records"]
    );
    assert_eq!(
        bash_completes(&["pipe-demo", "--color", ""]),
        ["auto", "always", "never"]
    );
}

#[test]
fn a_bad_generate_is_a_usage_error_naming_the_kinds() {
    let kinds: Vec<&str> = KINDS.iter().map(|(kind, _)| *kind).collect();
    for name in PROGRAMS {
        for args in [
            &["--generate", "bogus"][..],
            &["--generate"],
            &["--generate=complete-tcsh"],
        ] {
            let out = output_of(&mut cmd_with(name, args), b"");
            let what = format!("{name} {}", args.join(" "));
            assert_eq!(shell_status(out.status), 2, "{what}: {}", out.stderr);
            assert_eq!(out.stdout, "", "{what}");
            assert!(out.stderr.starts_with("error: "), "{what}: {}", out.stderr);
            assert_eq!(out.stderr.matches("error:").count(), 1, "{what}");
            for kind in &kinds {
                assert!(out.stderr.contains(kind), "{what}: {kind}: {}", out.stderr);
            }
            assert_no_panic(&out.stderr);
        }
        // It stands alone: with anything else, a usage error too.
        for args in [
            &["--generate", "man", "--explain"][..],
            &["--explain", "--generate", "man"],
            &["--generate", "man", "extra"],
        ] {
            let out = output_of(&mut cmd_with(name, args), b"");
            assert_eq!(
                (shell_status(out.status), out.stdout.as_str()),
                (2, ""),
                "{name} {args:?}: {}",
                out.stderr
            );
            assert!(out.stderr.starts_with("error: "), "{name} {args:?}");
        }
    }
}

#[test]
fn a_generate_value_of_control_characters_or_bytes_that_are_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    for (arg, shown) in [
        (
            &b"--generate=\x1b]0;PWNED\x07"[..],
            "'\\u{1b}]0;PWNED\\u{7}'",
        ),
        (b"--generate=\xff", "'\u{fffd}'"),
    ] {
        let mut c = cmd("pipe-demo");
        c.arg(std::ffi::OsStr::from_bytes(arg));
        let out = output_of(&mut c, b"");
        assert_eq!(
            (shell_status(out.status), out.stdout.as_str()),
            (2, ""),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.starts_with(&format!(
                "error: invalid value {shown} for '--generate <KIND>'"
            )),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains('\x1b'), "{}", out.stderr);
    }
}

#[test]
fn help_leaves_generate_out() {
    for name in PROGRAMS {
        for flag in ["-h", "--help"] {
            let out = output_of(&mut cmd_with(name, &[flag]), b"");
            assert_eq!(shell_status(out.status), 0, "{name} {flag}");
            assert!(
                !out.stdout.contains("generate"),
                "{name} {flag}: {}",
                out.stdout
            );
        }
    }
}

#[test]
fn a_page_that_cannot_be_written_is_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = cmd_with("pipe-demo", &["--generate", "man"])
        .stdout(full)
        .stdin(Stdio::null())
        .output()
        .expect("pipe-demo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(shell_status(out.status), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("ENOSPC"),
        "{stderr}"
    );
}

// scripts/install.sh

/// Every file under `dir`, by its path relative to `dir`, with its contents.
fn files_under(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                found.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut found = BTreeMap::new();
    walk(dir, dir, &mut found);
    found
}

/// scripts/install.sh run with `home` as HOME and `path` as PATH: status, stdout, stderr.
fn install(home: &Path, path: &str) -> Finished {
    install_with(home, path, &[])
}

/// [`install`] with these arguments.
fn install_with(home: &Path, path: &str, args: &[&str]) -> Finished {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh");
    let mut c = Command::new("bash");
    c.arg(script)
        .args(args)
        .env("HOME", home)
        .env("PATH", path)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("MANPATH");
    output_of(&mut c, b"")
}

/// A finished run, for a failed assertion's message.
fn show(run: &Finished) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        shell_status(run.status),
        run.stdout,
        run.stderr
    )
}

/// The folder our binaries are built in.
fn bin_dir() -> PathBuf {
    bin("pipe-demo").parent().unwrap().to_path_buf()
}

#[test]
fn install_sh_puts_every_page_and_completion_where_the_readme_says() {
    let home = TempDir::new("install-home");
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir().display());
    let first = install(&home.path, &path);
    assert_eq!(shell_status(first.status), 0, "{}", show(&first));
    assert!(
        first.stdout.contains("installed for 10 programs"),
        "{}",
        show(&first)
    );
    let mut expected = BTreeMap::new();
    for name in PROGRAMS {
        for (file, kind) in [
            (format!(".local/share/man/man1/{name}.1"), "man"),
            (
                format!(".local/share/bash-completion/completions/{name}"),
                "complete-bash",
            ),
            (
                format!(".local/share/zsh/site-functions/_{name}"),
                "complete-zsh",
            ),
            (
                format!(".config/fish/completions/{name}.fish"),
                "complete-fish",
            ),
        ] {
            expected.insert(file, generated(name, kind));
        }
    }
    // Exactly these files, and each is what the program prints.
    assert_eq!(files_under(&home.path), expected);

    // Run again: the same files, nothing more.
    let second = install(&home.path, &path);
    assert_eq!(shell_status(second.status), 0, "{}", show(&second));
    assert_eq!(files_under(&home.path), expected);

    // man finds the pages there with ~/.local/bin on PATH, or with the README's MANPATH line.
    need_man();
    let page = home.path.join(".local/share/man/man1/pipe-demo.1");
    let local_bin = home.path.join(".local/bin");
    for (path, manpath) in [
        (format!("{}:/usr/bin:/bin", local_bin.display()), None),
        (
            "/usr/bin:/bin".to_owned(),
            Some(format!("{}/.local/share/man:", home.path.display())),
        ),
    ] {
        let mut man = Command::new("man");
        man.args(["-w", "pipe-demo"])
            .env("HOME", &home.path)
            .env("PATH", &path)
            .env_remove("MANPATH");
        if let Some(manpath) = &manpath {
            man.env("MANPATH", manpath);
        }
        let out = output_of(&mut man, b"");
        assert_eq!(
            (shell_status(out.status), out.stdout.trim()),
            (0, page.to_str().unwrap()),
            "PATH={path} MANPATH={manpath:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn install_sh_refuses_when_the_programs_are_not_on_path() {
    let home = TempDir::new("install-refused");
    let out = install(&home.path, "/usr/bin:/bin");
    assert_eq!(shell_status(out.status), 1, "{}", show(&out));
    assert!(
        out.stderr.contains("not on PATH: shm-master")
            && out.stderr.contains("cargo install --locked --path ."),
        "{}",
        out.stderr
    );
    assert!(files_under(&home.path).is_empty(), "wrote nothing");

    let help = install_with(&home.path, "/usr/bin:/bin", &["--help"]);
    assert_eq!(shell_status(help.status), 0, "{}", show(&help));
    for place in [
        "/.local/share/man/man1/PROGRAM.1",
        "/.local/share/bash-completion/completions/PROGRAM",
        "/.local/share/zsh/site-functions/_PROGRAM",
        "/.config/fish/completions/PROGRAM.fish",
    ] {
        assert!(help.stdout.contains(place), "{place}: {}", help.stdout);
    }
    let bad = install_with(&home.path, "/usr/bin:/bin", &["--prefix"]);
    assert_eq!(shell_status(bad.status), 2, "{}", show(&bad));
    assert!(files_under(&home.path).is_empty(), "wrote nothing");
}
