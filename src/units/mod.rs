//! The unit files exporterctl writes for an exporter: the service
//! (`unitfile`), its sandbox (`sandbox`) and, when socket-activated, its
//! socket (`socket_activation`). Rendering only: the plan adds them to the
//! store, the engine links and enables them.

pub mod sandbox;
pub mod socket_activation;
pub mod unitfile;

use crate::manifest::{Exporter, Manifest};
use crate::service::ServiceManagerKind;

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
pub fn generated_units(manifest: &Manifest, e: &Exporter) -> std::result::Result<Vec<GeneratedUnit>, UnitFileError> {
    let socket = if socket_activation::enabled(e, manifest.settings.service_manager) {
        let plan = socket_activation::plan(e).map_err(|message| UnitFileError::Socket {
            exporter: e.name.escape_debug().to_string(),
            message,
        })?;
        Some(plan)
    } else {
        None
    };
    let socket_name = socket_activation::socket_unit(&e.unit);
    // The sandbox reads the arguments the service runs with.
    let service_e;
    let run = match &socket {
        Some(plan) => {
            let mut with_socket = e.clone();
            with_socket.args = plan.args.clone();
            service_e = with_socket;
            &service_e
        }
        None => e,
    };
    let sandbox = sandbox::for_exporter(run);
    let text = unitfile::render_checked(&unitfile::UnitParams {
        exporter: &e.name,
        exec: &manifest.settings.bin_dir.join(&e.name),
        args: &run.args,
        user: e.user.as_deref(),
        environment: &e.environment,
        sandbox: sandbox.as_ref(),
        socket: socket.as_ref().map(|_| socket_name.as_str()),
    })?;
    let mut units = vec![GeneratedUnit {
        rest: format!("unit-{}", e.unit),
        file: e.unit.clone(),
        text,
    }];
    if let Some(plan) = socket {
        units.push(GeneratedUnit {
            rest: format!("unit-{socket_name}"),
            text: socket_activation::render(&e.name, &e.unit, &plan.listen),
            file: socket_name,
        });
    }
    Ok(units)
}

/// The generated service unit file of `e`: the name part of its store path
/// and its text; refused when a value cannot be carried into a unit file.
pub fn unit_file(manifest: &Manifest, e: &Exporter) -> std::result::Result<(String, String), UnitFileError> {
    let mut units = generated_units(manifest, e)?;
    let service = units.swap_remove(0);
    Ok((service.rest, service.text))
}

/// The text of `e`'s generated unit file (as [`unit_file`]; a value it
/// refuses is reported in place of the text, for ratings and tests).
pub fn unit_text(manifest: &Manifest, e: &Exporter) -> String {
    match unit_file(manifest, e) {
        Ok((_, text)) => text,
        Err(refused) => refused.to_string(),
    }
}

/// How `systemd-analyze security` rates each generated unit of `manifest`,
/// one line per unit, for the dry run and `check`.
pub fn unit_security_lines(manifest: &Manifest) -> Vec<String> {
    if manifest.settings.service_manager != ServiceManagerKind::Systemd {
        return Vec::new();
    }
    let mut lines = Vec::new();
    for e in manifest.exporters.iter().filter(|e| e.manage_unit) {
        let how = if e.sandbox.enabled {
            "sandboxed"
        } else {
            "sandbox: false"
        };
        let line = match unit_file(manifest, e) {
            Err(refused) => format!("unit security: {} not rated ({how}): {refused}", e.unit),
            Ok((_, text)) => match sandbox::exposure(&e.unit, &text) {
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
