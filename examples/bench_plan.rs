//! Benchmark: planning the synthetic 1000- and 5000-service projects from their normalised
//! JSON (parse JSON -> model -> policy -> graph -> plan -> render), printed, never asserted.
//!
//! `cargo run --release --example bench_plan -- FILE.json...` (scripts/bench-plan produces
//! the JSON with the reference binary where the corpus lacks it).

use std::time::Instant;

use dokku_compose::model::{ConvertOptions, StackName};
use dokku_compose::plan::{self, Options, PlanSettings};
use dokku_compose::policy::Policy;
use dokku_compose::state::DokkuState;

/// The part of the loader that exists in this branch (YAML parse + interpolation of the
/// synthetic compose.yaml next to the JSON's source), as a yardstick for the planner.
fn loader_yardstick(yaml: &std::path::Path) -> Option<f64> {
    let src = std::fs::read_to_string(yaml).ok()?;
    let env = dokku_compose::compose::environment::Environment::resolve(&std::collections::BTreeMap::new(), yaml.parent()?, &[]).ok()?;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut warnings = Vec::new();
        for doc in dokku_compose::compose::yaml::parse(&src, yaml).ok()? {
            std::hint::black_box(dokku_compose::compose::interpolate::interpolate_node(doc, &|k| env.get(k), &mut warnings).ok()?);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
    }
    Some(best)
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    for file in files {
        let stem = std::path::Path::new(&file).file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let yaml = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/compose-corpus-synthetic").join(&stem).join("compose.yaml");
        if let Some(ms) = loader_yardstick(&yaml) {
            println!("{stem}: loader so far (yaml parse + interpolation, best of 5): {ms:.1} ms");
        }
        let text = std::fs::read_to_string(&file).expect("readable JSON");
        let runs = 5;
        let mut best = [f64::MAX; 3];
        let mut stage = [f64::MAX; 3];
        let mut steps = 0;
        let mut services = 0;
        for _ in 0..runs {
            let t0 = Instant::now();
            let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            let t1 = Instant::now();
            services = json["services"].as_object().map_or(0, serde_json::Map::len);
            let opts = Options {
                convert: ConvertOptions { stack: StackName::parse("bench").unwrap(), project_dir: "/bench".into() },
                policy: Policy::from_names(["host-path", "sysctls", "cap-add"]).unwrap(),
                settings: PlanSettings::default(),
            };
            let (project, warnings) = dokku_compose::model::from_compose_json(&json, &opts.convert).expect("model");
            let tm = Instant::now();
            opts.policy.check(&project).expect("policy");
            let graph = dokku_compose::graph::build(&project).expect("graph");
            let tg = Instant::now();
            let plan = plan::plan(&project, &graph, &DokkuState::default(), &opts.settings, warnings).expect("plan");
            let t2 = Instant::now();
            for (b, d) in stage.iter_mut().zip([tm - t1, tg - tm, t2 - tg]) {
                *b = b.min(d.as_secs_f64() * 1000.0);
            }
            let text = plan.to_string();
            let t3 = Instant::now();
            steps = plan.steps.len();
            std::hint::black_box(text);
            for (b, d) in best.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
                *b = b.min(d.as_secs_f64() * 1000.0);
            }
        }
        println!(
            "{file}: {services} services, {steps} steps; best of {runs}: json parse {:.1} ms, plan {:.1} ms, render {:.1} ms",
            best[0], best[1], best[2]
        );
        println!("    of which: model {:.1} ms, policy+graph {:.1} ms, planner {:.1} ms", stage[0], stage[1], stage[2]);
    }
}
