//! Service managers: systemd (the shipped path), `process` (demo and tests
//! without systemd) and `none` (flip only).
//!
//! STUB (lead): replaced by the real implementation on merge.
use crate::manifest::ServiceManagerKind;
use crate::paths::Layout;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub exporter: String,
    pub unit: String,
    pub exec: PathBuf,
    pub args: Vec<String>,
    pub environment: BTreeMap<String, String>,
}
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnitStatus {
    pub active_state: String,
    pub sub_state: String,
    pub n_restarts: u64,
    pub main_pid: Option<u32>,
}
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServiceError(pub String);
pub trait ServiceManager: Send + Sync {
    fn kind(&self) -> ServiceManagerKind;
    fn preflight(&self) -> Result<(), ServiceError>;
    fn daemon_reload(&self) -> Result<(), ServiceError>;
    fn enable(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    fn restart(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    fn status(&self, spec: &ServiceSpec) -> Result<UnitStatus, ServiceError>;
}
pub fn manager_for(kind: ServiceManagerKind, layout: &Layout) -> Box<dyn ServiceManager> {
    let _ = (kind, layout);
    todo!()
}
