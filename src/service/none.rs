//! The `none` manager: exporterctl only flips links; whoever runs the
//! exporter restarts it. Every call succeeds and the state is `unknown`.

use super::{ServiceError, ServiceManager, ServiceSpec, UnitStatus};
use crate::service::ServiceManagerKind;

#[derive(Debug, Clone, Copy, Default)]
pub struct NoneManager;

impl ServiceManager for NoneManager {
    fn kind(&self) -> ServiceManagerKind {
        ServiceManagerKind::None
    }
    fn preflight(&self) -> Result<(), ServiceError> {
        Ok(())
    }
    fn restart(&self, _spec: &ServiceSpec) -> Result<(), ServiceError> {
        Ok(())
    }
    fn stop(&self, _spec: &ServiceSpec) -> Result<(), ServiceError> {
        Ok(())
    }
    fn status(&self, _spec: &ServiceSpec) -> Result<UnitStatus, ServiceError> {
        Ok(UnitStatus::unknown())
    }
}
