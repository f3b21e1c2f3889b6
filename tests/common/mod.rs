//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod archives;
pub mod fixture;
pub mod forge;
pub mod proxy;
pub mod server;
pub mod tls;
