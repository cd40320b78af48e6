//! The single integration-test crate: every file under tests/ is a module of it.

mod support;

mod apply;
mod calls;
mod cli;
mod corpus;
mod docker;
mod examples;
mod export;
mod fuzz;
mod hostile;
mod install;
mod k3s_net;
mod mapping_push;
mod plan_cli;
mod plan_conformance;
mod plan_golden;
mod plan_loader;
mod plan_support;
mod plugin;
mod reference;
mod routing;
mod secrets;
mod security;
mod typed;
mod vault;
mod webhook;
mod workflow;
