//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod archives;
pub mod server;
pub mod fixture;
