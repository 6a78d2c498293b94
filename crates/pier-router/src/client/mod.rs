//! pier's HTTP/1.1 client towards backends, written for the proxy's one job: a request
//! arrives already parsed and rewritten, goes out on a kept-alive connection, and its
//! response head and body come back, all inside the client connection's task — the way
//! HAProxy moves a request through one thread. (hyper's client would give each backend
//! connection a task of its own and pass every request and every body chunk through channels
//! between the tasks; measured with callgrind, that was about a third of the router's
//! instructions per request.)
//!
//! `io` is the byte stream (TCP or TLS), `encode` writes request heads and chunks, `decode`
//! parses response heads, their framing and chunked bodies, and `conn` ties them together.

mod conn;
mod decode;
mod encode;
mod io;

pub(crate) use conn::{BackendConn, SendError, UpstreamBody};
pub(crate) use decode::{Framing, Head};
pub(crate) use io::{BackendIo, Upgraded};
