//! Service managers: systemd (the shipped path), `process` (demo and tests
//! without systemd) and `none` (flip only).
//!
//! STUB: to be implemented.
