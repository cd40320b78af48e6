//! The plugin's help, generated from the verbs' clap definitions ([`super::verbs::VERBS`]), so
//! it cannot drift from what the verbs accept: `dokku help` (short and `--all` forms,
//! dokku-facts §a "Help conventions") and `dokku compose:help`. Every line fits 80 columns.

use clap::{Arg, ArgAction, Command};

use super::verbs::VERBS;

/// The plugin's one-line description.
pub(crate) const DESCRIPTION: &str = "Deploy docker-compose stacks as Dokku apps and datastores";

/// The width every help line fits in, as Dokku's own help.
pub(super) const WIDTH: usize = 80;

/// `compose:help` takes no argument (any given is ignored, as before).
#[derive(Debug, clap::Parser)]
#[command(about = "Print this help")]
pub(super) struct Args {
    #[arg(hide = true, allow_hyphen_values = true, trailing_var_arg = true)]
    _ignored: Vec<String>,
}

/// Prints [`plugin_help`].
#[allow(clippy::unnecessary_wraps)]
pub(super) fn run(_: &Args, _: &crate::dokku::env::DokkuEnv) -> anyhow::Result<u8> {
    print!("{}", plugin_help());
    Ok(0)
}

/// `commands help`: the short form, or with `--all` one Dokku line per command,
/// `    compose:<verb> <args>, <description>` (flags shown as `[--flags]` when they do not fit).
pub(crate) fn help(all: bool) -> String {
    if !all {
        return format!("    compose, {DESCRIPTION}\n");
    }
    commands()
        .iter()
        .map(|c| format!("{}\n", line(c)))
        .collect()
}

/// `dokku compose:help`: usage, description, then every command with all its arguments and
/// flags (wrapped at [`WIDTH`]) and its description, sorted.
pub(crate) fn plugin_help() -> String {
    let mut out =
        format!("Usage: dokku compose[:COMMAND]\n\n{DESCRIPTION}\n\nAdditional commands:\n");
    let mut cmds = commands();
    cmds.sort_by(|a, b| a.get_name().cmp(b.get_name()));
    for c in &cmds {
        for l in wrap(&usage(c, true), 4, 8) {
            out.push_str(&l);
            out.push('\n');
        }
        for l in wrap(&words(&long_about(c)), 8, 8) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// Every verb's clap definition, named `compose:<verb>`.
fn commands() -> Vec<Command> {
    VERBS.iter().map(|v| (v.command)()).collect()
}

/// The command's one-line description (`about`), short enough for its `help --all` line.
fn about(c: &Command) -> String {
    c.get_about().map(ToString::to_string).unwrap_or_default()
}

/// The command's full description (`long_about`, else `about`), for `compose:help`.
fn long_about(c: &Command) -> String {
    c.get_long_about()
        .map_or_else(|| about(c), ToString::to_string)
}

/// `    compose:<verb> <args>, <description>`: every flag when the line fits, else `[--flags]`
/// (and a positional's alternatives, `<app>|--global`, as its first form).
fn line(c: &Command) -> String {
    let full = format!("    {}, {}", usage(c, true).join(" "), about(c));
    if full.chars().count() <= WIDTH {
        return full;
    }
    format!("    {}, {}", usage(c, false).join(" "), about(c))
}

/// The arguments shown in help: neither hidden nor clap's own `--help`.
fn shown(c: &Command) -> impl Iterator<Item = &Arg> {
    c.get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
}

/// The usage as items (`compose:up`, `<app>`, `[--prune]`…): in full, or short (`[--flags]`,
/// a positional's first form).
fn usage(c: &Command, flags: bool) -> Vec<String> {
    let mut items = vec![c.get_name().to_owned()];
    items.extend(shown(c).filter(|a| a.is_positional()).map(|a| {
        let p = positional(a);
        match p.split_once('|') {
            Some((first, _)) if !flags => first.to_owned(),
            _ => p,
        }
    }));
    let options: Vec<String> = shown(c)
        .filter(|a| !a.is_positional())
        .map(option)
        .collect();
    if flags {
        items.extend(options);
    } else if !options.is_empty() {
        items.push("[--flags]".to_owned());
    }
    items
}

/// `<app>`, `[<from>]`, `<names>...`; a value name already written as shown (`<app>|--global`,
/// `--compose-<key>`) is kept.
fn positional(a: &Arg) -> String {
    let (name, literal) = value_name(a);
    let many = multiple(a) && !literal;
    let dots = if many { "..." } else { "" };
    if a.is_required_set() {
        format!("{name}{dots}")
    } else {
        format!("[{name}{dots}]")
    }
}

/// `[--wait]`, `[--format json]`, `[-n|--num <lines>]`, `[--set <key=value>]...`.
fn option(a: &Arg) -> String {
    let flag = match (a.get_short(), a.get_long()) {
        (Some(s), Some(l)) => format!("-{s}|--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, Some(l)) => format!("--{l}"),
        (None, None) => a.get_id().to_string(),
    };
    let value = if a.get_action().takes_values() {
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        let choices: Vec<String> = a
            .get_possible_values()
            .iter()
            .map(|p| p.get_name().to_owned())
            .filter(|p| !defaults.contains(p))
            .collect();
        if choices.is_empty() {
            format!(" {}", value_name(a).0)
        } else {
            format!(" {}", choices.join("|"))
        }
    } else {
        String::new()
    };
    let inner = format!("{flag}{value}");
    let shown = if a.is_required_set() {
        inner
    } else {
        format!("[{inner}]")
    };
    if multiple(a) {
        format!("{shown}...")
    } else {
        shown
    }
}

/// Whether the argument may be given more than once.
fn multiple(a: &Arg) -> bool {
    matches!(a.get_action(), ArgAction::Append)
}

/// The argument's value as shown, and whether it was written literally in its definition.
fn value_name(a: &Arg) -> (String, bool) {
    let name = a
        .get_value_names()
        .and_then(|n| n.first())
        .map_or_else(|| a.get_id().to_string(), ToString::to_string);
    if name.contains('<') || name.starts_with('-') {
        (name, true)
    } else {
        (
            format!("<{}>", name.to_ascii_lowercase().replace('_', "-")),
            false,
        )
    }
}

/// The words of a text.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// `items` joined by spaces into lines of at most [`WIDTH`] columns, the first indented by
/// `first` spaces and the others by `rest` (an item longer than a line gets one of its own).
fn wrap(items: &[String], first: usize, rest: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = " ".repeat(first);
    let mut empty = true;
    for item in items {
        if !empty && cur.chars().count() + 1 + item.chars().count() > WIDTH {
            lines.push(std::mem::replace(&mut cur, " ".repeat(rest)));
            empty = true;
        }
        if !empty {
            cur.push(' ');
        }
        cur.push_str(item);
        empty = false;
    }
    if !empty {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The drift test: the help is what clap accepts, every command and flag, and nothing else.
    #[test]
    fn help_is_the_clap_definitions_in_dokkus_format() {
        assert_eq!(help(false), format!("    compose, {DESCRIPTION}\n"));
        let all = help(true);
        let plugin = plugin_help();
        for text in [help(false), all.clone(), plugin.clone()] {
            for l in text.lines() {
                assert!(l.chars().count() <= WIDTH, "over {WIDTH} columns: `{l}`");
            }
        }
        // `help --all`: Dokku's `    <command> <args>, <description>`, one comma per line.
        assert!(
            all.lines()
                .all(|l| l.starts_with("    compose:") && l.matches(',').count() == 1),
            "one comma per line: {all}"
        );
        let listed: BTreeSet<&str> = all
            .lines()
            .filter_map(|l| l.trim_start().split([' ', ',']).next())
            .collect();
        let defined: BTreeSet<String> = VERBS
            .iter()
            .map(|v| format!("compose:{}", v.name))
            .collect();
        let defined: BTreeSet<&str> = defined.iter().map(String::as_str).collect();
        assert_eq!(
            listed, defined,
            "a help entry for each clap command, no other"
        );
        assert!(plugin.starts_with("Usage: dokku compose[:COMMAND]\n\n"));
        assert!(plugin.contains("\nAdditional commands:\n    compose:config <app>"));
        // Every argument and flag of every command is in its block of `compose:help`.
        for v in VERBS {
            let c = (v.command)();
            c.clone().debug_assert();
            let name = format!("compose:{}", v.name);
            let block = block(&plugin, &name);
            assert!(!block.is_empty(), "{name} in compose:help");
            for a in shown(&c) {
                let want = if a.is_positional() {
                    value_name(a).0
                } else {
                    a.get_long().map_or_else(
                        || format!("-{}", a.get_short().unwrap_or_default()),
                        |l| format!("--{l}"),
                    )
                };
                assert!(block.contains(&want), "{name}: `{want}` in `{block}`");
            }
            let description = long_about(&c);
            assert!(
                block.contains(&description.split_whitespace().collect::<Vec<_>>().join(" ")),
                "{name}: its description"
            );
        }
        // The drift this replaced: `compose:rollback` accepts `--wait`.
        assert!(block(&plugin, "compose:rollback").contains("[--wait]"));
        assert!(all.contains("    compose:up <app> [--flags], "), "{all}");
        assert!(all.contains("    compose:list [--format json], "), "{all}");
    }

    /// The lines of `compose:help` that describe `name` (its usage line and those indented
    /// below it), joined by spaces.
    fn block(help: &str, name: &str) -> String {
        let mut lines = help.lines().skip_while(|l| {
            !(l.starts_with(&format!("    {name} ")) || *l == format!("    {name}"))
        });
        let mut out: Vec<&str> = lines.next().into_iter().collect();
        out.extend(lines.take_while(|l| l.starts_with("        ")));
        out.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn usage_renders_positionals_options_and_repeats() {
        let c = VERBS.iter().find(|v| v.name == "up").map(|v| (v.command)());
        let u = usage(&c.unwrap_or_default(), true).join(" ");
        assert!(
            u.starts_with(
                "compose:up <app> [--file -] [--prune] [--destroy-datastore <service>]... [--wait]"
            ),
            "{u}"
        );
        assert_eq!(
            wrap(&words("a bb ccc"), 4, 8),
            ["    a bb ccc"],
            "short text on one line"
        );
        let long: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
        let lines = wrap(&long, 4, 8);
        assert!(lines.len() > 1 && lines[1].starts_with("        w"));
        assert!(lines.iter().all(|l| l.len() <= WIDTH));
    }
}
