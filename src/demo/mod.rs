//! The self-contained demo: a release server on 127.0.0.1 and a tiny exporter.
//!
//! - [`http`]: a minimal std-only HTTP/1.1 server (thread per connection);
//! - [`exporter`]: the demo exporter behind `exporterctl demo-exporter`.

pub mod exporter;
pub mod http;

pub use exporter::{Behaviour, ExporterOpts};
