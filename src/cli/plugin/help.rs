//! The plugin's help, one table (style R17): `dokku help` (short and `--all` forms, dokku-facts
//! §a "Help conventions") and `dokku compose:help`.

/// `(command with arguments, description)`; descriptions have no commas (they separate columns).
pub const COMMANDS: &[(&str, &str)] = &[
    ("compose:config <app> [--show-secrets]", "Print the normalised compose project of the last push (secrets masked unless asked)"),
    ("compose:diff <app> [<from>] [<to>]", "Show what changed between two releases (secrets masked)"),
    ("compose:down <app> [--force] [--datastores] [--dry-run]", "Destroy the stack's service apps (datastores only with --datastores)"),
    ("compose:export <app> [--output <file>]", "Write a compose file describing what the stack's apps run now"),
    ("compose:import-apps <stack> <app>...", "Adopt existing apps named <stack>-<service> into a new stack"),
    ("compose:list [--format json]", "List every stack on the host with its services and state"),
    ("compose:logs <app> [<service>] [-n <lines>]", "Print the logs of one service or of all"),
    ("compose:plan <app> [--format json] [--refresh]", "Print the Dokku commands an apply would run now (always from a full read of the host)"),
    ("compose:ps <app> [--format json]", "Show every service with its expected and actual state"),
    ("compose:releases <app> [--format json]", "List the stack's releases newest first"),
    ("compose:report [<app>] [--format json] [--compose-<key>]", "Display the stack's settings and last release"),
    ("compose:rollback <app> [<release>]", "Re-apply an earlier release"),
    ("compose:run <app> <service> <command...>", "Run a one-off command in a service's app"),
    ("compose:set <app>|--global <key> [<value>]", "Set or clear a property (compose-file concurrency timeout step-timeout allow profiles hooks-dir hook-timeout)"),
    ("compose:sync <app> [<git-url> [<ref>]]", "Fetch the stack from a git repository and apply it (repeats the last URL and ref)"),
    ("compose:webhook-secret <app> [--rotate]", "Create (or replace) the stack's webhook secret and print it once"),
    ("compose:status [--format json]", "Show every stack's services; exit non-zero when one is not as expected"),
    ("compose:rotate <app> <name>...", "Generate new values for generated variables on the next deploy"),
    ("compose:version", "Print the plugin's version and the commit it was built from"),
    ("compose:vault-password <app> [--unset]", "Set the stack's ansible-vault password from stdin"),
    ("compose:projects:create <project> [--environments <list>]", "Create a project of stacks with its environments (default: production)"),
    ("compose:projects:list [--format json]", "List projects with their environments and stacks"),
    ("compose:projects:set-var <project>|--global [--environment <env>] <KEY=VALUE>...", "Set shared variables and show which stacks they affect"),
    ("compose:projects:unset-var <project>|--global [--environment <env>] <KEY>...", "Remove shared variables"),
    ("compose:projects:vars <project>|--global [--environment <env>] [--show]", "List shared variables (values masked unless --show)"),
    ("compose:projects:template <project>", "Store the project's compose template from stdin"),
    ("compose:projects:apply <project> [--environment <env>] [--concurrency <n>]", "Redeploy every stack of a project"),
    ("compose:up <app> [--file -] [--prune] [--destroy-datastore <service>] [--wait] [--from-template <project> [--set K=V]...]", "Apply the stack from the last push or a compose file on stdin or a project template"),
];

/// The plugin's one-line description.
pub const DESCRIPTION: &str =
    "Deploy docker-compose stacks: one app per service and managed datastores";

/// `commands help`: the short form, or one line per command with `--all`.
pub fn help(all: bool) -> String {
    if !all {
        return format!("    compose, {DESCRIPTION}\n");
    }
    COMMANDS
        .iter()
        .map(|(c, d)| format!("    {c}, {d}\n"))
        .collect()
}

/// `dokku compose:help`: usage, description, the commands columnised as Dokku does.
pub fn plugin_help() -> String {
    let width = COMMANDS.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    let mut out =
        format!("Usage: dokku compose[:COMMAND]\n\n{DESCRIPTION}\n\nAdditional commands:\n");
    let mut rows: Vec<&(&str, &str)> = COMMANDS.iter().collect();
    rows.sort();
    for (c, d) in rows {
        out.push_str(&format!("    {c:<width$}  {d}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_forms() {
        assert_eq!(help(false), format!("    compose, {DESCRIPTION}\n"));
        let all = help(true);
        assert_eq!(all.lines().count(), COMMANDS.len());
        assert!(
            all.lines()
                .all(|l| l.starts_with("    compose:") && l.matches(',').count() == 1),
            "one comma per line: {all}"
        );
        let p = plugin_help();
        assert!(p.starts_with("Usage: dokku compose[:COMMAND]\n\n"));
        assert!(p.contains("\nAdditional commands:\n    compose:config <app>"));
    }
}
