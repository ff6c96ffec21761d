//! gavel's integration tests. The tests themselves are in `all/`, one binary
//! (`cargo test -p gavel-tests`); the plugins they run are built from source
//! by `gavel-artifacts`.
