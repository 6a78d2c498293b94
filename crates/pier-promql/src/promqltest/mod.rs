//! The promqltest runner: parses Prometheus's conformance script format (`load`, `clear`,
//! `eval instant|range`, `expect …`, series notation `0+10x100`, `_`, `stale`) and runs it
//! against the engine over a [`crate::MemStorage`].
