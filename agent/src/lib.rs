//! vestige: a forensic collection agent for Linux hosts on AWS.
//!
//! The flow, one module each: a spec (`collector-spec`) → [`collect`]ors turn the host into
//! records or bytes → the [`pipeline`] hashes, compresses and hashes again → a [`sink`]
//! stores objects → the [`manifest`] lists them, written last; [`verify`] re-checks it all.
//! [`run`] drives one collection.

pub mod cli;
pub mod clock;
pub mod collect;
pub mod custody;
pub mod glob;
pub mod host;
pub mod hostfs;
pub mod limits;
pub mod manifest;
pub mod pipeline;
pub mod procfs;
pub mod progress;
pub mod records;
pub mod report;
pub mod run;
pub mod sink;
pub mod ssh_config;
pub mod summary;
pub mod tar;
pub mod timefmt;
pub mod timeline;
pub mod utmp;
pub mod verify;
