//! The tables the verbs print.

use serde_json::Value;

use crate::report::{info2, verbose};

/// The services of one stack with their expected and actual state (`compose:ps`,
/// `compose:status`).
pub(super) fn print_states(app: &str, states: &[Value]) {
    println!("{}", info2(&format!("{app} services")));
    let w = states
        .iter()
        .filter_map(|s| s["service"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(7)
        .max(7);
    let t = states
        .iter()
        .filter_map(|s| s["target"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{}",
        verbose(&format!(
            "{:<w$}  {:<t$}  {:<10}  {}",
            "service", "target", "expected", "actual"
        ))
    );
    for s in states {
        let mark = if s["ok"] == true { "" } else { "  (!)" };
        println!(
            "{}",
            verbose(&format!(
                "{:<w$}  {:<t$}  {:<10}  {}{mark}",
                s["service"].as_str().unwrap_or(""),
                s["target"].as_str().unwrap_or(""),
                s["expected"].as_str().unwrap_or(""),
                s["actual"].as_str().unwrap_or("")
            ))
        );
    }
}
