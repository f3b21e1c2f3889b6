//! The self-contained demo: a release server on 127.0.0.1 and a tiny exporter.
pub mod exporter;
