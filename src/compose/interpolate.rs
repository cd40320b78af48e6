//! Variable interpolation with the reference's syntax and errors (`$VAR`, `${VAR:-d}`, …).
//!
//! (Initial version: plain `${VAR}`/`$VAR` and `$$` only; completed in issue #2's front-end work.)

use super::tree::Node;
use super::warning::Warning;

/// Looks a variable up in the project environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// An interpolation failure, naming the key path and the offending text.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InterpolationError {
    /// The key path (`services.web.environment.URL`), empty for a bare string.
    pub path: String,
    /// What is wrong, worded like the reference.
    pub message: String,
}

/// Interpolates one string.
pub fn interpolate_str(input: &str, lookup: Lookup<'_>, warnings: &mut Vec<Warning>) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().map(|&(_, c)| c) {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some('{') => {
                chars.next();
                let mut name = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    name.push(c);
                }
                out.push_str(&resolve(&name, lookup, warnings));
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c == '_' || c.is_ascii_alphanumeric() {
                        name.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(&resolve(&name, lookup, warnings));
            }
            _ => out.push('$'),
        }
    }
    Ok(out)
}

fn resolve(name: &str, lookup: Lookup<'_>, warnings: &mut Vec<Warning>) -> String {
    lookup(name).unwrap_or_else(|| {
        warnings.push(Warning::new(format!("The \"{name}\" variable is not set. Defaulting to a blank string.")));
        String::new()
    })
}

/// Interpolates every string value (never a key) of a tree.
pub fn interpolate_node(node: Node, lookup: Lookup<'_>, warnings: &mut Vec<Warning>) -> Result<Node, InterpolationError> {
    Ok(match node {
        Node::Str(s) => Node::Str(interpolate_str(&s, lookup, warnings)?),
        Node::Seq(items) => Node::Seq(items.into_iter().map(|n| interpolate_node(n, lookup, warnings)).collect::<Result<_, _>>()?),
        Node::Map(m) => Node::Map(
            m.into_iter()
                .map(|(k, v)| Ok((k, interpolate_node(v, lookup, warnings)?)))
                .collect::<Result<_, InterpolationError>>()?,
        ),
        Node::Tagged(t, inner) => Node::Tagged(t, Box::new(interpolate_node(*inner, lookup, warnings)?)),
        other => other,
    })
}
