//! `kernel_modules`: loaded modules from /proc/modules, and built-in ones from /sys/module.

use super::{CollectError, Context, Output};
use crate::procfs::modules;
use crate::procfs::read::{is_gone, read_small};
use collector_spec::KernelModulesOptions;
use serde::Serialize;
use std::collections::HashSet;

/// One module.
#[derive(Debug, Serialize)]
pub struct ModuleRecord {
    pub name: String,
    pub size: Option<u64>,
    pub state: String,
    pub taint: Option<String>,
    pub refcount: Option<i64>,
    pub used_by: Vec<String>,
    pub address: Option<String>,
    pub source: &'static str,
    /// A loadable module present in /sys/module but absent from /proc/modules (a hiding
    /// technique); null when /proc/modules does not exist.
    pub missing_from_proc_modules: Option<bool>,
}

/// Collects modules.
pub fn collect(
    ctx: &Context,
    opts: &KernelModulesOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let mut listed = HashSet::new();
    let proc_modules = match read_small(&ctx.proc.join("modules")) {
        Ok(buf) => {
            let (mods, bad) = modules::parse(&buf);
            if bad > 0 {
                out.warn(format!("/proc/modules: {bad} malformed lines"));
            }
            for m in mods {
                listed.insert(m.name.clone());
                out.record(&ModuleRecord {
                    name: m.name,
                    size: Some(m.size),
                    state: m.state,
                    taint: m.taint,
                    refcount: m.refcount,
                    used_by: m.used_by,
                    address: m.address,
                    source: "proc_modules",
                    missing_from_proc_modules: Some(false),
                })?;
            }
            true
        }
        Err(e) if is_gone(&e) => false, // kernel without loadable-module support
        Err(e) => {
            out.warn(format!("/proc/modules: {e}"));
            false
        }
    };
    let sys_module = ctx.sys.join("module");
    let entries = match std::fs::read_dir(&sys_module) {
        Ok(e) => e,
        Err(e) => {
            if !proc_modules {
                return Err(CollectError::Failed(format!(
                    "neither /proc/modules nor {}: {e}",
                    sys_module.display()
                )));
            }
            return Ok(());
        }
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        out.check_cancel()?;
        if listed.contains(&name) {
            continue;
        }
        let dir = sys_module.join(&name);
        // Loadable modules have `initstate`; built-in ones do not.
        let initstate = read_small(&dir.join("initstate"))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned());
        let loadable = initstate.is_some();
        if !loadable && !opts.include_builtin.unwrap_or(true) {
            continue;
        }
        let taint = read_small(&dir.join("taint"))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|t| !t.is_empty());
        let refcount = read_small(&dir.join("refcnt"))
            .ok()
            .and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok());
        out.record(&ModuleRecord {
            name,
            size: read_small(&dir.join("coresize"))
                .ok()
                .and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok()),
            state: initstate.clone().unwrap_or_else(|| "builtin".into()),
            taint,
            refcount,
            used_by: Vec::new(),
            address: None,
            source: "sys_module",
            missing_from_proc_modules: if proc_modules && loadable {
                Some(true)
            } else {
                None
            },
        })?;
    }
    Ok(())
}
