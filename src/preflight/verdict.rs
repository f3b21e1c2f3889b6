//! What a preflight result means for the switch: the mode (`off`, `warn`,
//! `require`), the families the manifest insists on (`health.keep_metrics`),
//! and the decision to go ahead or refuse before anything is flipped.

pub use crate::generation::preflight::Mode;
pub use crate::health::keep::{is_metric_name, KeepMetrics};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_written() {
        assert_eq!(Mode::parse("require"), Some(Mode::Require));
        assert_eq!(Mode::parse("Require"), None);
        assert_eq!(Mode::default(), Mode::Warn);
    }
}
