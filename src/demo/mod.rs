//! The self-contained demo: a tiny exporter, its releases, and a static
//! release server on 127.0.0.1, so the whole story runs without root,
//! internet or systemd.

pub mod exporter;
pub mod http;
pub mod releases;
