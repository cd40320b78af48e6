//! Tests of the YAML front end.

use super::scalar::*;
use super::*;
use crate::compose::tree::Tag;

fn one(src: &str) -> Node {
    let mut docs = parse(src, Path::new("c.yml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(docs.len(), 1, "{src}");
    docs.remove(0)
}

fn json(src: &str) -> serde_json::Value {
    one(src).to_json()
}

fn err(src: &str) -> String {
    parse(src, Path::new("c.yml")).expect_err(src).to_string()
}

#[test]
fn scalars_resolve_like_go_yaml() {
    let cases: &[(&str, Node)] = &[
        ("007", Node::Int(7)),
        ("010", Node::Int(8)),
        ("08", Node::Float(8.0)),
        ("0x1F", Node::Int(31)),
        ("0o17", Node::Int(15)),
        ("0b101", Node::Int(5)),
        ("-0x10", Node::Int(-16)),
        ("+12", Node::Int(12)),
        ("1_000", Node::Int(1000)),
        ("1.50", Node::Float(1.5)),
        ("1e3", Node::Float(1000.0)),
        (".5", Node::Float(0.5)),
        ("1e400", Node::Str("1e400".into())),
        ("9223372036854775807", Node::Int(i64::MAX)),
        ("-9223372036854775808", Node::Int(i64::MIN)),
        (
            "18446744073709551615",
            Node::Float(18_446_744_073_709_551_615.0),
        ),
        ("yes", Node::Str("yes".into())),
        ("on", Node::Str("on".into())),
        ("True", Node::Bool(true)),
        ("FALSE", Node::Bool(false)),
        ("~", Node::Null),
        ("null", Node::Null),
        ("-x", Node::Str("-x".into())),
        ("1.2.3", Node::Str("1.2.3".into())),
        ("2001-12-14", Node::Str("2001-12-14T00:00:00Z".into())),
        ("2001-02-30", Node::Str("2001-02-30".into())),
        ("8080:80", Node::Str("8080:80".into())),
        ("inf", Node::Str("inf".into())),
    ];
    for (text, want) in cases {
        assert_eq!(
            &one(&format!("v: {text}\n")).as_map().unwrap()["v"],
            want,
            "{text}"
        );
    }
}

#[test]
fn quoted_and_tagged_scalars() {
    assert_eq!(json("a: '007'\nb: \"true\"\nc: !!str 12\nd: !!int \"12\"\ne: !foo 12\nf: !!float 1\ng: ! 12\n"), serde_json::json!({"a": "007", "b": "true", "c": "12", "d": 12, "e": "12", "f": 1.0, "g": 12}));
    assert!(err("a: !!int abc\n").contains("cannot decode !!str `abc` as a !!int"));
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let src = "x-base: &base\n  image: nginx\n  restart: always\nservices:\n  a:\n    <<: *base\n    restart: 'no'\n  b:\n    <<: [*base, {restart: unless-stopped, user: me}]\n  c:\n    <<: [{user: first}, {user: second}]\n";
    let v = json(src);
    assert_eq!(
        v["services"]["a"],
        serde_json::json!({"image": "nginx", "restart": "no"})
    );
    assert_eq!(
        v["services"]["b"],
        serde_json::json!({"image": "nginx", "restart": "always", "user": "me"})
    );
    assert_eq!(v["services"]["c"], serde_json::json!({"user": "first"}));
}

#[test]
fn merge_of_an_alias_to_a_sequence_of_maps_is_accepted() {
    let v = json("x-list: &alist\n  - image: nginx\nservices:\n  s1:\n    <<: *alist\n");
    assert_eq!(v["services"]["s1"], serde_json::json!({"image": "nginx"}));
}

#[test]
fn merge_to_a_scalar_is_rejected_like_the_reference() {
    let e = err("x-scalar: &s \"not-a-map\"\nservices:\n  s1:\n    <<: *s\n");
    assert_eq!(
        e,
        "failed to parse c.yml: yaml: map merge requires map or sequence of maps as the value"
    );
}

#[test]
fn nested_merge_keys_resolve_inner_first() {
    let v = json("a: &a {x: 1, y: 1}\nb: &b {<<: *a, y: 2, z: 2}\nc: {<<: *b, z: 3}\n");
    assert_eq!(v["c"], serde_json::json!({"x": 1, "y": 2, "z": 3}));
}

#[test]
fn quoted_merge_key_is_a_plain_key() {
    assert_eq!(
        json("a: {'<<': {x: 1}}\n")["a"],
        serde_json::json!({"<<": {"x": 1}})
    );
}

#[test]
fn compose_tags_are_kept() {
    let doc = one("services:\n  foo:\n    build: !reset\n    ports: !override\n      - 80\n    image: !override nginx\n");
    let foo = doc.as_map().unwrap()["services"].as_map().unwrap()["foo"]
        .as_map()
        .unwrap()
        .clone();
    assert_eq!(foo["build"], Node::Tagged(Tag::Reset, Box::new(Node::Null)));
    assert_eq!(
        foo["ports"],
        Node::Tagged(Tag::Override, Box::new(Node::Seq(vec![Node::Int(80)])))
    );
    assert_eq!(
        foo["image"],
        Node::Tagged(Tag::Override, Box::new(Node::Str("nginx".into())))
    );
}

#[test]
fn tagged_scalars_are_strings_like_go_yaml() {
    let doc = one("replicas: !override 3\n");
    assert_eq!(
        doc.as_map().unwrap()["replicas"],
        Node::Tagged(Tag::Override, Box::new(Node::Str("3".into())))
    );
}

#[test]
fn reset_inside_an_anchor_applies_only_where_the_anchor_is_defined() {
    // compose-go prunes `!reset` children of the anchored node in place at its first
    // visit, so aliases see the node without them (testresettagwithsharedalias).
    let doc = one("x-reset-ports: &reset-ports\n  ports: !reset []\nservices:\n  svc1:\n    <<: *reset-ports\n  svc2:\n    <<: *reset-ports\n");
    let m = doc.as_map().unwrap();
    assert_eq!(
        m["x-reset-ports"].as_map().unwrap()["ports"],
        Node::Tagged(Tag::Reset, Box::new(Node::Seq(vec![])))
    );
    assert_eq!(
        doc.to_json()["services"],
        serde_json::json!({"svc1": {}, "svc2": {}})
    );
}

#[test]
fn alias_to_a_reset_node_keeps_the_reset() {
    let doc = one("x: &r !reset []\ny: *r\n");
    assert_eq!(
        doc.as_map().unwrap()["y"],
        Node::Tagged(Tag::Reset, Box::new(Node::Seq(vec![])))
    );
}

#[test]
fn duplicate_keys_name_both_lines() {
    let e = err(
        " name: test\n services:\n   foo:\n     command: hello\n     command: !reset hello world\n",
    );
    assert_eq!(
        e,
        "failed to parse c.yml: line 5: mapping key \"command\" already defined at line 4"
    );
}

#[test]
fn non_string_keys_are_rejected_with_their_path() {
    let e = err("services:\n  foo:\n    image: busybox\nnetworks:\n  default:\n    ipam:\n      config:\n        - 123: oh dear\n");
    assert!(
        e.starts_with("non-string key in networks.default.ipam.config[0]: 123"),
        "{e}"
    );
    assert!(e.contains("c.yml") && e.contains("line 8"), "{e}");
    assert!(err("true: x\n").starts_with("non-string key at top level: true"));
    assert!(err("~: x\n").starts_with("non-string key at top level: <nil>"));
    assert!(err("1.5: x\n").starts_with("non-string key at top level: 1.5"));
}

#[test]
fn yes_and_numbers_as_keys() {
    assert_eq!(
        json("yes: 1\n'1': 2\n!!str 3: 4\n"),
        serde_json::json!({"yes": 1, "1": 2, "3": 4})
    );
}

#[test]
fn multi_document_streams() {
    let docs = parse("a: 1\n---\na: 2\n", Path::new("c.yml")).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].to_json(), serde_json::json!({"a": 2}));
    assert!(parse("", Path::new("c.yml")).unwrap().is_empty());
    assert!(parse("# only a comment\n", Path::new("c.yml"))
        .unwrap()
        .is_empty());
    assert_eq!(
        parse("---\n", Path::new("c.yml")).unwrap(),
        vec![Node::Null]
    );
}

#[test]
fn syntax_errors_name_file_and_line() {
    let e = parse("services:\n  a: b\n c: [\n", Path::new("/p/c.yml")).unwrap_err();
    assert!(
        e.message
            .starts_with("failed to parse /p/c.yml: yaml: line "),
        "{e}"
    );
    assert!(e.line.is_some());
}

#[test]
fn self_referencing_anchor_is_an_error() {
    assert!(err("x: &a [*a]\n").contains("cycle detected"));
}

#[test]
fn binary_scalars_are_decoded() {
    assert_eq!(
        json("a: !!binary aGVsbG8=\nb: !!binary |\n  aGVs\n  bG8h\n"),
        serde_json::json!({"a": "hello", "b": "hello!"})
    );
    assert!(err("a: !!binary '***'\n").contains("!!binary value contains invalid base64 data"));
}

#[test]
fn syntax_errors_use_libyaml_words() {
    assert!(
        err("services:\n  app:\n    image: [a, b\n").ends_with("did not find expected ',' or ']'")
    );
    assert_eq!(
        err("x: é\ny: [*nope, 1]\n"),
        "failed to parse c.yml: yaml: unknown anchor 'nope' referenced"
    );
    assert!(err("services:\n\tapp:\n").ends_with("found character that cannot start any token"));
    assert!(err("services:\n  app:\n    image: a: b\n")
        .ends_with("yaml: line 3: mapping values are not allowed in this context"));
}

#[test]
fn go_float_formatting() {
    assert_eq!(go_float(1.5), "1.5");
    assert_eq!(go_float(1.0), "1");
    assert_eq!(go_float(1e23), "1e+23");
    assert_eq!(go_float(1e-7), "1e-07");
}
