//! Helpers shared by the behaviour tests (and by tests/docs.rs), a file per concern; every
//! item is re-exported here, so that a test needs only `use crate::common::*;`.
#![allow(dead_code)] // tests/docs.rs uses a few of them

mod children;
mod demo;
mod files;
mod ipc;
mod notes;
mod process;
mod pty;
mod users;

// tests/docs.rs includes these files too, and uses a few of them.
#[allow(unused_imports)]
pub use {children::*, demo::*, files::*, ipc::*, notes::*, process::*, pty::*, users::*};
