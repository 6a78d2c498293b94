//! Integration tests of the `pier` binary: real daemon, real child processes, ephemeral ports.

mod canary;
mod classroom;
mod harness;
mod jobs;
mod lifecycle;
mod manifest_errors;
mod metrics;
mod monorepo;
mod orphans;
mod probes;
mod procfile;
mod query;
mod releases;
mod router;
mod split;
mod stages;
mod tidy;
