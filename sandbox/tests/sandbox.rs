//! The sandbox's own test suite: one binary, one module per area (fact → test table in
//! docs/sandbox.md).

mod support;

mod commands;
mod datastores;
mod fidelity;
mod k3s;
mod latency;
mod plugins;
