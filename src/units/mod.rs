//! The unit files exporterctl writes for an exporter: the service
//! (`unitfile`), its sandbox (`sandbox`) and, when socket-activated, its
//! socket (`socket_activation`). Rendering only: the plan adds them to the
//! store, the engine links and enables them.

pub mod sandbox;
pub mod socket_activation;
pub mod unitfile;

use crate::catalogue::Entry;
use crate::service::ServiceManagerKind;
pub use sandbox::SandboxSpec;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the unit files of one exporter are made from, as plain values: the
/// manifest builds it (`manifest::Exporter::unit_spec`), so this module sits
/// below the manifest and the manifest's validation may ask it whether a
/// unit can be written.
#[derive(Debug, Clone)]
pub struct UnitSpec<'a> {
    pub name: &'a str,
    /// The exact version, or the request as written while unresolved.
    pub version: &'a str,
    pub unit: &'a str,
    /// The path `ExecStart=` runs: the exporter's link in `bin_dir`.
    pub exec: PathBuf,
    pub service_manager: ServiceManagerKind,
    pub manage_unit: bool,
    pub user: Option<&'a str>,
    pub environment: &'a BTreeMap<String, String>,
    pub args: &'a [String],
    pub sandbox: &'a SandboxSpec,
    /// `socket_activation:` as written; `None`: the catalogue decides.
    pub socket_activation: Option<bool>,
    /// The catalogue entry with its overrides for `version` applied.
    pub catalogue: Option<Entry>,
}

/// One generated unit file: the name part of its store path, its file name
/// and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedUnit {
    pub rest: String,
    pub file: String,
    pub text: String,
}

/// Why a unit file cannot be generated.
#[derive(Debug, thiserror::Error)]
pub enum UnitFileError {
    #[error(transparent)]
    Unsafe(#[from] unitfile::UnsafeValue),
    #[error("refusing to write the units of {exporter}: socket activation: {message}")]
    Socket { exporter: String, message: String },
}

/// The unit files exporterctl writes for `e`: its service, and its socket
/// when socket-activated (`switch::socket`).
pub fn generated_units(e: &UnitSpec) -> std::result::Result<Vec<GeneratedUnit>, UnitFileError> {
    let socket = if socket_activation::enabled(e) {
        let plan = socket_activation::plan(e).map_err(|message| UnitFileError::Socket {
            exporter: e.name.escape_debug().to_string(),
            message,
        })?;
        Some(plan)
    } else {
        None
    };
    let socket_name = socket_activation::socket_unit(e.unit);
    // The sandbox reads the arguments the service runs with.
    let args = match &socket {
        Some(plan) => plan.args.as_slice(),
        None => e.args,
    };
    let sandbox = sandbox::for_exporter(e, args);
    let text = unitfile::render_checked(&unitfile::UnitParams {
        exporter: e.name,
        exec: &e.exec,
        args,
        user: e.user,
        environment: e.environment,
        sandbox: sandbox.as_ref(),
        socket: socket.as_ref().map(|_| socket_name.as_str()),
    })?;
    let mut units = vec![GeneratedUnit {
        rest: format!("unit-{}", e.unit),
        file: e.unit.to_string(),
        text,
    }];
    if let Some(plan) = socket {
        units.push(GeneratedUnit {
            rest: format!("unit-{socket_name}"),
            text: socket_activation::render(e.name, e.unit, &plan.listen),
            file: socket_name,
        });
    }
    Ok(units)
}

/// The generated service unit file of `e`: the name part of its store path
/// and its text; refused when a value cannot be carried into a unit file.
pub fn unit_file(e: &UnitSpec) -> std::result::Result<(String, String), UnitFileError> {
    let mut units = generated_units(e)?;
    let service = units.swap_remove(0);
    Ok((service.rest, service.text))
}

/// The text of `e`'s generated unit file (as [`unit_file`]; a value it
/// refuses is reported in place of the text, for ratings and tests).
pub fn unit_text(e: &UnitSpec) -> String {
    match unit_file(e) {
        Ok((_, text)) => text,
        Err(refused) => refused.to_string(),
    }
}

/// How `systemd-analyze security` rates each generated unit of these
/// exporters (a manifest's, in its order), one line per unit, for the dry
/// run and `check`.
pub fn unit_security_lines<'a>(exporters: impl IntoIterator<Item = UnitSpec<'a>>) -> Vec<String> {
    let mut lines = Vec::new();
    let written = |e: &UnitSpec| e.service_manager == ServiceManagerKind::Systemd && e.manage_unit;
    for e in exporters.into_iter().filter(written) {
        let how = if e.sandbox.enabled {
            "sandboxed"
        } else {
            "sandbox: false"
        };
        let line = match unit_file(&e) {
            Err(refused) => format!("unit security: {} not rated ({how}): {refused}", e.unit),
            Ok((_, text)) => match sandbox::exposure(e.unit, &text) {
                Ok(rating) => format!(
                    "unit security: {} {rating} ({how}; systemd-analyze security --offline)",
                    e.unit
                ),
                Err(why) => format!("unit security: {} not rated ({how}): {why}", e.unit),
            },
        };
        lines.push(line);
    }
    lines
}
