//! Merging of canonical (long-syntax) trees: later files over earlier ones, and a service over
//! the one it `extends`, with the reference's per-key rules and the `!reset`/`!override` tags.

use super::tree::{Map, Node, Tag};

/// Merges project `over` into `base` (both canonical). The result holds no merge tags.
pub(crate) fn project(base: &mut Map, over: Map) {
    for (key, value) in over {
        match (key.as_str(), value) {
            (_, Node::Tagged(Tag::Reset, _)) => {
                base.remove(&key);
            }
            (_, Node::Tagged(Tag::Override, v)) => {
                base.insert(key, strip(*v));
            }
            ("services", Node::Map(services)) => {
                let target = base.entry(key).or_insert_with(|| Node::Map(Map::new()));
                if !matches!(target, Node::Map(_)) {
                    *target = Node::Map(Map::new());
                }
                let Node::Map(target) = target else { return };
                for (name, svc) in services {
                    match (target.remove(&name), svc) {
                        (_, Node::Tagged(Tag::Reset, _)) => {}
                        (Some(Node::Map(mut b)), Node::Map(o)) => {
                            service(&mut b, o);
                            target.insert(name, Node::Map(b));
                        }
                        (_, o) => {
                            target.insert(name, strip(o));
                        }
                    }
                }
            }
            (_, value) => match base.get_mut(&key) {
                Some(existing) => deep(existing, value),
                None => {
                    base.insert(key, strip(value));
                }
            },
        }
    }
}

/// Merges service `over` into `base` (both canonical).
pub(crate) fn service(base: &mut Map, over: Map) {
    for (key, value) in over {
        let value = match value {
            Node::Tagged(Tag::Reset, _) => {
                base.remove(&key);
                continue;
            }
            Node::Tagged(Tag::Override, v) => {
                base.insert(key, strip(*v));
                continue;
            }
            v => v,
        };
        let Some(existing) = base.get_mut(&key) else {
            base.insert(key, strip(value));
            continue;
        };
        match key.as_str() {
            "command" | "entrypoint" | "profiles" => *existing = strip(value),
            "volumes" | "devices" => keyed(existing, value, &|n| field(n, "target")),
            "secrets" | "configs" => keyed(existing, value, &|n| {
                field(n, "target").or_else(|| field(n, "source"))
            }),
            "env_file" => keyed(existing, value, &|n| field(n, "path")),
            "extra_hosts" => keyed(existing, value, &|n| n.as_str().map(str::to_string)),
            "ports" => keyed(existing, value, &|n| Some(fingerprint(n))),
            "environment" | "labels" | "annotations" => mapping(existing, value),
            "build" => build(existing, value),
            "logging" => {
                let same_driver = existing.as_map().and_then(|m| m.get("driver"))
                    == value.as_map().and_then(|m| m.get("driver"))
                    || value.as_map().is_some_and(|m| !m.contains_key("driver"));
                if same_driver {
                    deep(existing, value);
                } else {
                    *existing = strip(value);
                }
            }
            "healthcheck" => {
                if let (Node::Map(b), Node::Map(o)) = (&mut *existing, value) {
                    for (k, v) in o {
                        if k == "test" {
                            b.insert(k, strip(v));
                        } else {
                            match b.get_mut(&k) {
                                Some(e) => deep(e, v),
                                None => {
                                    b.insert(k, strip(v));
                                }
                            }
                        }
                    }
                }
            }
            _ => deep(existing, value),
        }
    }
}

fn field(n: &Node, key: &str) -> Option<String> {
    n.as_map()
        .and_then(|m| m.get(key))
        .and_then(Node::as_str)
        .map(str::to_string)
}

/// Appends `over`'s entries to `base`'s; an entry with the key of an earlier one replaces it
/// in place. Linear: keys are indexed once (files may carry tens of thousands of ports).
fn keyed(base: &mut Node, over: Node, key: &dyn Fn(&Node) -> Option<String>) {
    let (Node::Seq(b), Node::Seq(o)) = (&mut *base, over.clone()) else {
        *base = strip(over);
        return;
    };
    let mut index: std::collections::HashMap<String, usize> = b
        .iter()
        .enumerate()
        .filter_map(|(i, e)| key(e).map(|k| (k, i)))
        .collect();
    for item in o {
        let item = strip(item);
        match key(&item) {
            Some(k) => match index.get(&k) {
                Some(&i) => b[i] = item,
                None => {
                    index.insert(k, b.len());
                    b.push(item);
                }
            },
            None => b.push(item),
        }
    }
}

/// `KEY=VALUE` mappings, which the reference merges as sequences (`mergeToSequence`): every
/// entry of `over` replaces the base's, a bare `KEY` (null) included.
fn mapping(base: &mut Node, over: Node) {
    match (&mut *base, over) {
        (_, Node::Null) => {}
        (Node::Map(b), Node::Map(o)) => {
            for (k, v) in o {
                match v {
                    Node::Tagged(Tag::Reset, _) => {
                        b.remove(&k);
                    }
                    v => {
                        b.insert(k, strip(v));
                    }
                }
            }
        }
        (b, o) => deep(b, o),
    }
}

/// `build`: maps recursively, with `args`, `labels` and `additional_contexts` merged as
/// [`mapping`]s.
fn build(base: &mut Node, over: Node) {
    match (&mut *base, over) {
        (Node::Map(b), Node::Map(o)) => {
            for (k, v) in o {
                match (v, b.get_mut(&k)) {
                    (Node::Tagged(Tag::Reset, _), _) => {
                        b.remove(&k);
                    }
                    (v, Some(e))
                        if matches!(k.as_str(), "args" | "labels" | "additional_contexts") =>
                    {
                        mapping(e, v)
                    }
                    (v, Some(e)) => deep(e, v),
                    (v, None) => {
                        b.insert(k, strip(v));
                    }
                }
            }
        }
        (b, o) => deep(b, o),
    }
}

/// A text form of a node, for de-duplicating list entries in linear time.
pub(crate) fn fingerprint(n: &Node) -> String {
    n.to_json().to_string()
}

/// The default merge: maps recursively, sequences appended without duplicates, scalars replaced.
pub(crate) fn deep(base: &mut Node, over: Node) {
    match (base, over) {
        (_, Node::Null) => {}
        (b, Node::Tagged(Tag::Override, v)) => *b = strip(*v),
        (Node::Map(b), Node::Map(o)) => {
            for (k, v) in o {
                match v {
                    Node::Tagged(Tag::Reset, _) => {
                        b.remove(&k);
                    }
                    v => match b.get_mut(&k) {
                        Some(e) => deep(e, v),
                        None => {
                            b.insert(k, strip(v));
                        }
                    },
                }
            }
        }
        (Node::Seq(b), Node::Seq(o)) => {
            let mut seen: std::collections::HashSet<String> = b.iter().map(fingerprint).collect();
            for item in o {
                let item = strip(item);
                if seen.insert(fingerprint(&item)) {
                    b.push(item);
                }
            }
        }
        (b, o) => *b = strip(o),
    }
}

/// Whether a tree holds any merge tag.
fn has_tags(node: &Node) -> bool {
    match node {
        Node::Tagged(..) => true,
        Node::Map(m) => m.values().any(has_tags),
        Node::Seq(s) => s.iter().any(has_tags),
        _ => false,
    }
}

/// Removes merge tags: `!reset` entries disappear, `!override` values are unwrapped.
pub(crate) fn strip(node: Node) -> Node {
    if !has_tags(&node) {
        return node;
    }
    match node {
        Node::Tagged(Tag::Override, v) => strip(*v),
        Node::Tagged(Tag::Reset, _) => Node::Null,
        Node::Map(m) => Node::Map(
            m.into_iter()
                .filter(|(_, v)| !matches!(v, Node::Tagged(Tag::Reset, _)))
                .map(|(k, v)| (k, strip(v)))
                .collect(),
        ),
        Node::Seq(s) => Node::Seq(
            s.into_iter()
                .filter(|v| !matches!(v, Node::Tagged(Tag::Reset, _)))
                .map(strip)
                .collect(),
        ),
        other => other,
    }
}
