//! lab-check: the exercises' checker. A student writes one of the notes' programs; lab-check runs
//! it against ipc-lab's reference programs and reports, check by check, what is right and what
//! is wrong, in the notes' words.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ipc_lab::check::report::{Compiled, Report};
use ipc_lab::check::{self, Exercise, Lab, Program, build, ipc, run};
use ipc_lab::cli::{self, Common};
use ipc_lab::sys::Termination;
use ipc_lab::ui::{self, Painter, Stream, Ui, UsageError, out_raw};

const ABOUT: &str = "Check a program you wrote for one of the lecture notes' exercises";

const AFTER_HELP: &str = "\
Lecture notes: every section's program (B1 shared memory, B3 pipes, B4 signals, B2 queues):
`lab-check list` names the exercises and the section each comes from.

PROGRAM is an executable, or a .c file lab-check compiles first (cc -Wall -Wextra; if that
fails, again with -std=gnu89, as the notes' own programs need with gcc 14). The program runs on a
terminal, as when you run it, in its own process group, killed with its children at its time
limit; in a private IPC namespace where one can be made. What it leaves behind is reported, then
removed. lab-check runs your code: run it on your own programs, or in a container.

Exit status: 0 when every check passed, 1 when one failed, 2 for a usage error.

Examples:
  lab-check list                          the exercises
  lab-check pipe-hello pipe.c             compile pipe.c, run it, check it
  lab-check sig-segv ./segv --explain     say what each check does as it runs
  lab-check sig-segv segv.c --format json > results.json   Gradescope's format";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A line per check, with what was expected and a hint for each failure
    Text,
    /// Gradescope's results.json on stdout
    Json,
}

#[derive(Debug, Parser)]
#[command(name = "lab-check", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// The exercise (see `lab-check list`), or `list`
    #[arg(value_name = "EXERCISE")]
    exercise: String,

    /// Your program: an executable, or a .c file to compile
    #[arg(value_name = "PROGRAM")]
    program: Option<PathBuf>,

    /// Arguments for exercises that pass them on (none do today; kept for scripts)
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,

    /// text for you; json: Gradescope's results.json on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// The time one run of your program may take (each exercise has its own default)
    #[arg(long, value_name = "SECS", value_parser = cli::parse_seconds)]
    timeout: Option<Duration>,

    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    let ui = Ui::new("lab-check", args.common.color, args.common.explain);
    if args.exercise == "list" {
        return ui.finish(list(&args));
    }
    match check(&args, &ui) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => ui.finish(Err(err)),
    }
}

fn list(args: &Args) -> anyhow::Result<()> {
    if let Some(extra) = &args.program {
        return Err(UsageError(format!(
            "`lab-check list` takes no program (got {})",
            extra.display()
        ))
        .into());
    }
    let width = check::exercises()
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for e in check::exercises() {
        text.push_str(&format!(
            "{:width$}  {}  ({}; {} points)\n",
            e.name,
            e.task,
            e.section,
            e.max_score()
        ));
    }
    out_raw(text.as_bytes())
}

fn find_exercise(name: &str) -> anyhow::Result<&'static Exercise> {
    check::exercise(name).ok_or_else(|| {
        let names: Vec<&str> = check::exercises().iter().map(|e| e.name).collect();
        UsageError(format!(
            "no exercise is named {}: the exercises are {} (`lab-check list` says what each is)",
            ui::one_line(name),
            names.join(", ")
        ))
        .into()
    })
}

/// Check the program; Ok(whether every check passed).
fn check(args: &Args, ui: &Ui) -> anyhow::Result<bool> {
    let exercise = find_exercise(&args.exercise)?;
    let Some(given) = &args.program else {
        return Err(UsageError(format!(
            "which program? `lab-check {} {}`: give your executable or your .c file",
            exercise.name, exercise.usage
        ))
        .into());
    };
    if !given.is_file() {
        return Err(UsageError(format!(
            "cannot find the program {}: give the path of your executable (./{}) or of your .c \
             file",
            given.display(),
            given
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        ))
        .into());
    }
    if !check::is_c_source(given) && !check::is_executable(given) {
        return Err(UsageError(format!(
            "{} is not an executable program: give your .c file, or compile it first \
             (cc -o prog prog.c) and give ./prog",
            given.display()
        ))
        .into());
    }
    // Before any thread starts: a threaded process cannot enter a user namespace.
    let isolation = ipc::isolate();
    ui.meaning(&isolation.describe());
    run::become_subreaper()?;
    let _termination = Termination::install()?;

    let mut compiled = None;
    let mut built = None;
    let path = if check::is_c_source(given) {
        ui.meaning(&format!("compile {}", given.display()));
        match build::compile(given)? {
            Ok(b) => {
                compiled = Some(Compiled {
                    command: b.command.clone(),
                    messages: b.warnings.clone(),
                    error: None,
                });
                let path = b.executable.clone();
                built = Some(b);
                Some(path)
            }
            Err(e) => {
                compiled = Some(Compiled {
                    command: e.command,
                    messages: e.all,
                    error: Some(e.first_error),
                });
                None
            }
        }
    } else {
        Some(program_path(given))
    };
    let outcomes = match path {
        Some(path) => {
            // A compiled program is shown as the student would run it: ./NAME beside NAME.c.
            let shown = match &built {
                Some(b) => PathBuf::from(".").join(b.executable.file_name().unwrap_or_default()),
                None => path.clone(),
            };
            let program = Program {
                path,
                shown,
                args: args.args.clone(),
            };
            let mut lab = Lab::new(exercise, program, args.timeout, isolation, ui);
            let ran = (exercise.run)(&mut lab);
            match ran {
                Ok(()) => lab.outcomes("the exercise stopped before it"),
                Err(err) => {
                    if err.downcast_ref::<ui::Interrupted>().is_some() {
                        return Err(err);
                    }
                    let (message, _) = ui::error_lines(&err);
                    ui.report(&err);
                    lab.outcomes(&format!("lab-check could not go on: {message}"))
                }
            }
        }
        None => {
            let lab = Lab::new(
                exercise,
                Program {
                    path: PathBuf::new(),
                    shown: PathBuf::new(),
                    args: Vec::new(),
                },
                args.timeout,
                isolation,
                ui,
            );
            lab.outcomes("the program did not compile")
        }
    };
    drop(built);
    let report = Report {
        exercise,
        compiled,
        outcomes,
    };
    let text = match args.format {
        Format::Text => report.text(&Painter::new(args.common.color.enabled_for(Stream::Stdout))),
        Format::Json => report.json(),
    };
    out_raw(text.as_bytes())?;
    Ok(report.all_passed())
}

/// A program path that runs as given: `segv` in the current folder is `./segv` (Command would
/// look for a bare name in PATH).
fn program_path(given: &std::path::Path) -> PathBuf {
    if given.components().count() == 1 {
        PathBuf::from(".").join(given)
    } else {
        given.to_path_buf()
    }
}
