//! The lecture notes' C programs, as printed there (`shared/seed/ipc-lecture-notes.md`, beside
//! the crate): lab-check's tests check them, and the examples' tests run them.

use std::path::Path;

/// The notes' C program that contains `marker`, as printed in the notes.
pub fn notes_program(marker: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("shared/seed/ipc-lecture-notes.md");
    let notes =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    notes
        .split("```c\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no C program with {marker:?} in the notes"))
        .to_string()
}
