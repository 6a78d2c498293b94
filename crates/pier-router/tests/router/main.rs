//! Integration tests of the router: a real router on 127.0.0.1 with ephemeral ports, in front
//! of purpose-built backends (some of them misbehaving on purpose), driven by raw TCP clients.

mod backends;
mod codes;
mod framing;
mod harness;
mod parsing;
mod proxying;
mod slow_clients;
mod split;
