//! The self-contained demo: a tiny exporter, its releases, and a static
//! release server on 127.0.0.1, so the whole story runs without root,
//! internet or systemd.
//!
//! - [`http`]: a minimal std-only HTTP/1.1 server (thread per connection);
//! - [`exporter`]: the demo exporter behind `exporterctl demo-exporter`;
//! - [`releases`]: its releases in node_exporter's layout, and their server;
//! - [`port`]: choosing a port an exporter will bind later.

pub mod exporter;
pub mod http;
pub mod port;
pub mod releases;

pub use exporter::{Behaviour, ExporterOpts};
pub use port::free_port;
