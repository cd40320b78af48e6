//! Benchmark: the loader against everything planning adds, on the synthetic compose files.
//! Printed, never asserted.
//!
//! For each file: `compose::load` (the loader, as `config` runs it), then what `plan` adds on
//! top: the hand-off to the planner (`LoadedProject::new`: the typed project, with service
//! extensions, and its stored JSON), the workflow's checks (`workflow::check`: model conversion, policy, graph),
//! its planner (`workflow::plan_checked`: the plan and the policy's check of its commands),
//! and rendering the text plan. Best of
//! RUNS runs each; the ratio planning / loader is the issue's yardstick ("planning must add no
//! more than the loader's own time"), and the per-service times show linearity.
//!
//! `cargo run --release --example bench_plan -- DIR...` (each DIR holds a compose.yaml);
//! scripts/bench-plan runs it on the synthetic 1000- and 5000-service files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use dokku_compose::cli::plan_cmd::LoadedProject;
use dokku_compose::compose::{self, LoadOptions};
use dokku_compose::model::{ConvertOptions, StackName};
use dokku_compose::plan::PlanSettings;
use dokku_compose::policy::Policy;
use dokku_compose::state::DokkuState;
use dokku_compose::workflow;

// The same allocator as the `dokku-compose` binary, so the numbers are the command's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    println!(
        "{:<16} {:>8} {:>8} | {:>9} | {:>9} {:>9} {:>9} | {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>11}",
        "case",
        "services",
        "steps",
        "loader",
        "hand-off",
        "checks",
        "planner",
        "planning",
        "plan/ld",
        "render",
        "+render",
        "+r/ld",
        "per service"
    );
    for dir in std::env::args().skip(1).map(PathBuf::from) {
        let name = dir
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let opts = LoadOptions {
            files: vec!["compose.yaml".into()],
            project_name: Some(name.clone()),
            environment: BTreeMap::from([
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("HOME".into(), "/home/corpus".into()),
            ]),
            working_dir: dir.clone(),
            ..LoadOptions::default()
        };
        let convert = ConvertOptions {
            stack: StackName::parse("bench").unwrap(),
            project_dir: dir.display().to_string(),
        };
        let policy = Policy::from_names(["host-path", "sysctls", "cap-add"]).unwrap();
        let mut best = [f64::MAX; 5];
        let (mut services, mut steps) = (0, 0);
        for _ in 0..runs {
            let t0 = Instant::now();
            let loaded = compose::load(&opts).expect("load");
            let t1 = Instant::now();
            let project = LoadedProject::new(&loaded, dir.clone()).expect("typed project");
            let t2 = Instant::now();
            let checked =
                workflow::check_typed(&project.project, &convert, &policy, None).expect("checks");
            let t3 = Instant::now();
            let plan = workflow::plan_checked(
                &checked,
                &DokkuState::default(),
                &PlanSettings::default(),
                &policy,
            )
            .expect("plan");
            let t4 = Instant::now();
            std::hint::black_box(plan.to_string());
            let t5 = Instant::now();
            services = checked.project.services.len();
            steps = plan.steps.len();
            for (b, d) in best
                .iter_mut()
                .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4])
            {
                *b = b.min(ms(d));
            }
        }
        // Planning: from the loaded project to the `Plan` value; rendering the text is output.
        let planning: f64 = best[1..4].iter().sum();
        let with_render = planning + best[4];
        println!(
            "{name:<16} {services:>8} {steps:>8} | {:>6.1} ms | {:>6.1} ms {:>6.1} ms {:>6.1} ms | {:>6.1} ms {:>6.2}x | {:>6.1} ms {:>6.1} ms {:>6.2}x | {:>8.1} us",
            best[0], best[1], best[2], best[3], planning, planning / best[0], best[4], with_render, with_render / best[0], (best[0] + with_render) * 1000.0 / services.max(1) as f64
        );
    }
}
