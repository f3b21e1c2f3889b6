//! A local HTTP server on 127.0.0.1 that mimics GitHub's release layout, with fault injection.
