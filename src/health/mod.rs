//! Health checks: scrape `/metrics`, parse the Prometheus text format, check
//! the build-info version and the expected samples, with fast-then-backing-off
//! polling and a settle window on the unit's restart counter.
//!
//! STUB: to be implemented.
