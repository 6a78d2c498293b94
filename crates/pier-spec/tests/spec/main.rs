//! Integration tests of pier-spec: one test binary with one harness (`harness`), and one
//! module per feature: defaults, the examples of docs/manifest.md, error messages, the
//! classroom-like fixture, Procfile import, `pier init`, loading a folder, property tests.

mod harness;

mod defaults;
mod deploy;
mod docs;
mod errors;
mod fixture;
mod init;
mod load;
mod procfile;
mod properties;
