//! The latency model charges each command's delay as CPU on a host with a set number of cores
//! (issue #19): calls started together queue for a core instead of overlapping freely.

use std::time::{Duration, Instant};

use crate::support::Sandbox;

/// Runs `n` `apps:list` at once with 300 ms per command and `cores` cores; the wall time.
fn parallel(n: usize, cores: &str) -> Duration {
    let s = Sandbox::new();
    s.run(&["apps:list"]).ok();
    let started = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|_| {
            let mut c = s.cmd();
            c.env("DOKKU_SANDBOX_LATENCY_MS", "300")
                .env("DOKKU_SANDBOX_CORES", cores)
                .arg("apps:list")
                .stdout(std::process::Stdio::null());
            c.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    started.elapsed()
}

#[test]
fn parallel_calls_queue_for_the_hosts_cores() {
    // 4 calls of 300 ms on 2 cores: two rounds, at least 600 ms.
    let two = parallel(4, "2");
    assert!(two >= Duration::from_millis(600), "{two:?}");
    // On 1 core they run one after the other.
    let one = parallel(3, "1");
    assert!(one >= Duration::from_millis(900), "{one:?}");
    // With unlimited cores (0) they overlap.
    let free = parallel(4, "0");
    assert!(free < Duration::from_millis(600), "{free:?}");
}
