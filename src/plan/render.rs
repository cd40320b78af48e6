//! Printing a plan: the text form is the exact shell-quoted `dokku` commands with secrets
//! masked, one comment line of reason and undo each; the JSON form is the plan data with the
//! same masking.

use std::fmt;

use serde_json::{json, Value};

use super::step::{Plan, Undo};
use crate::dokku::Cmd;

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "# dokku-compose plan for stack `{}`: {} step(s)",
            self.stack,
            self.steps.len()
        )?;
        let width = self
            .services
            .keys()
            .map(|s| s.as_str().len())
            .max()
            .unwrap_or(0);
        for (svc, target) in &self.services {
            writeln!(f, "#   {:width$} -> {target}", svc.as_str())?;
        }
        for (path, rule) in &self.rewrites {
            writeln!(f, "#   rewritten `{path}`: {rule}")?;
        }
        let mut heading: Option<Option<usize>> = None;
        for step in &self.steps {
            let this = step.service.as_ref().map(|_| step.level);
            if heading != Some(this) {
                match this {
                    None => writeln!(f, "\n## stack")?,
                    Some(l) => writeln!(f, "\n## level {l}")?,
                }
                heading = Some(this);
            }
            writeln!(f, "# {}: {}", step.id, step.reason)?;
            writeln!(f, "{}", step.run)?;
            if let Some(stdin) = &step.run.stdin {
                writeln!(f, "#   stdin: {}", stdin.describe())?;
            }
            if step.run.program == "dokku" && !step.run.env.is_empty() {
                let names: Vec<String> = step
                    .run
                    .env
                    .iter()
                    .map(|(k, _)| format!("{k}={}", crate::dokku::cmd::MASK))
                    .collect();
                writeln!(f, "#   environment: {}", names.join(" "))?;
            }
            match &step.undo {
                Undo::Commands { cmds } => {
                    f.write_str("#   undo: ")?;
                    for (i, c) in cmds.iter().enumerate() {
                        if i > 0 {
                            f.write_str(" && ")?;
                        }
                        fmt::Display::fmt(c, f)?;
                    }
                    f.write_str("\n")?;
                }
                Undo::Irreversible { reason } => writeln!(f, "#   undo: (irreversible) {reason}")?,
            }
        }
        if !self.files.is_empty() {
            writeln!(f, "\n## files and records (in the same transaction)")?;
            for e in &self.files {
                writeln!(f, "{e}")?;
            }
        }
        if !self.kube.is_empty() {
            writeln!(f, "\n## cluster objects (in the same transaction)")?;
            for e in &self.kube {
                writeln!(f, "{e}")?;
            }
        }
        Ok(())
    }
}

fn cmd_json(c: &Cmd) -> Value {
    let mut v = json!({ "argv": c.masked_argv() });
    if c.program == "dokku" && !c.env.is_empty() {
        v["env"] = c
            .env
            .iter()
            .map(|(k, _)| (k.clone(), json!(crate::dokku::cmd::MASK)))
            .collect::<serde_json::Map<String, Value>>()
            .into();
    }
    if let Some(stdin) = &c.stdin {
        let mut s = serde_json::to_value(stdin).expect("stdin serialises");
        // Config values: secret ones masked.
        if let Some(masked) = stdin.masked() {
            s["values"] = masked;
        }
        // Inline file contents may hold configs; show names only.
        if let Some(files) = s.get_mut("files").and_then(Value::as_object_mut) {
            for val in files.values_mut() {
                *val = json!(format!("({} bytes)", val.as_str().map_or(0, str::len)));
            }
        }
        v["stdin"] = s;
    }
    v
}

impl Plan {
    /// The JSON form, with secrets masked.
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let undo = match &s.undo {
                    Undo::Commands { cmds } => {
                        json!({ "commands": cmds.iter().map(cmd_json).collect::<Vec<_>>() })
                    }
                    Undo::Irreversible { reason } => json!({ "irreversible": reason }),
                };
                json!({
                    "id": s.id,
                    "service": s.service,
                    "level": s.level,
                    "action": s.action,
                    "run": cmd_json(&s.run),
                    "reason": s.reason,
                    "undo": undo,
                })
            })
            .collect();
        let mut out = json!({
            "stack": self.stack,
            "services": self.services,
            "rewrites": self.rewrites,
            "warnings": self.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "steps": steps,
        });
        if !self.files.is_empty() {
            out["files"] = serde_json::to_value(&self.files).expect("file effects serialise");
        }
        if !self.kube.is_empty() {
            out["kube"] = serde_json::to_value(&self.kube).expect("cluster effects serialise");
        }
        out
    }
}
