//! Builders for release archives (good and hostile) used by the tests.
