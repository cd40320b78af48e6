use super::*;

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn tokens_and_signatures() {
    let secret = "s3cret";
    let body = br#"{"ref":"refs/heads/main"}"#;
    let check = |headers: &[(&str, String)], body: &[u8]| {
        authenticate(
            |n| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.as_str())
            },
            body,
            secret,
        )
    };
    let (token, signed) = (Some(Credential::Token), Some(Credential::Signature));
    assert_eq!(
        check(&[("Authorization", "Bearer s3cret".into())], body),
        token
    );
    assert_eq!(
        check(&[("x-dokku-compose-token", "s3cret".into())], body),
        token
    );
    assert_eq!(check(&[("X-Gitlab-Token", "s3cret".into())], body), token);
    assert_eq!(
        check(
            &[(
                "X-Hub-Signature-256",
                format!("sha256={}", sign(secret, body))
            )],
            body
        ),
        signed
    );
    assert_eq!(
        check(&[("X-Gitea-Signature", sign(secret, body))], body),
        signed
    );
    assert_eq!(
        check(
            &[
                ("Authorization", "Bearer s3cret".into()),
                ("X-Gitea-Signature", sign(secret, body))
            ],
            body
        ),
        signed,
        "a signature wins, so the body is replay-checked"
    );
    assert_eq!(check(&[], body), None);
    assert_eq!(
        check(&[("Authorization", "Bearer s3cre".into())], body),
        None
    );
    assert_eq!(
        check(&[("Authorization", "Basic s3cret".into())], body),
        None
    );
    assert_eq!(
        check(
            &[(
                "X-Hub-Signature-256",
                format!("sha256={}", sign(secret, body))
            )],
            b"tampered"
        ),
        None
    );
    assert_eq!(
        check(&[("X-Hub-Signature-256", sign(secret, body))], body),
        None,
        "the sha256= prefix is required"
    );
    assert_eq!(check(&[("X-Gitea-Signature", "zz".into())], body), None);
}

#[test]
fn calls_for_one_stack_coalesce() {
    let d = Deployer::default();
    assert_eq!(
        d.trigger("a"),
        Triggered {
            queued: false,
            joined: false
        }
    );
    assert_eq!(
        d.trigger("a"),
        Triggered {
            queued: true,
            joined: true
        },
        "not started yet: joins"
    );
    // A worker takes it: the next call waits behind it, later ones join that one.
    let s = lock(&d.state).ready.pop_front().unwrap();
    {
        let mut q = lock(&d.state);
        let st = q.stacks.get_mut(&s).unwrap();
        st.queued = false;
        st.running = true;
    }
    assert_eq!(
        d.trigger("a"),
        Triggered {
            queued: true,
            joined: false
        }
    );
    assert_eq!(
        d.trigger("a"),
        Triggered {
            queued: true,
            joined: true
        }
    );
    assert!(
        lock(&d.state).ready.is_empty(),
        "re-queued by the worker when it finishes, not now"
    );
    assert_eq!(
        d.trigger("b"),
        Triggered {
            queued: false,
            joined: false
        }
    );
}

#[test]
fn replayed_keys_within_the_window() {
    let r = Replay::default();
    let minute = Duration::from_secs(60);
    let (body, id1, id2) = (
        digest(&[b"signed-body", b"a", b"x"]),
        digest(&[b"delivery-id", b"a", b"1"]),
        digest(&[b"delivery-id", b"a", b"2"]),
    );
    assert_eq!(r.check(&[body, id1], minute), Ok(()));
    assert_eq!(
        r.check(&[body, id2], minute),
        Err(0),
        "the same signed body under a new id"
    );
    assert_eq!(
        r.check(&[body], minute),
        Err(0),
        "the same signed body without id"
    );
    assert_eq!(
        r.check(&[id2], minute),
        Ok(()),
        "the refused call recorded nothing"
    );
    assert_eq!(r.check(&[id1], minute), Err(0));
    assert_eq!(
        r.check(&[digest(&[b"delivery-id", b"b", b"1"])], minute),
        Ok(()),
        "per stack"
    );
    assert_ne!(
        digest(&[b"ab", b"c"]),
        digest(&[b"a", b"bc"]),
        "parts are length-prefixed"
    );
    let c = digest(&[b"c"]);
    assert_eq!(r.check(&[c], Duration::ZERO), Ok(()));
    assert_eq!(r.check(&[c], Duration::ZERO), Ok(()));
}

#[test]
fn chunked_bodies_decode_within_the_limit() {
    let (mut raw, mut body) = (b"4\r\nRust\r\n3;ext=1\r\n ok\r\n0\r".to_vec(), Vec::new());
    assert!(matches!(decode_chunks(&mut raw, &mut body, 100), Ok(false)));
    assert_eq!(
        (body.as_slice(), raw.as_slice()),
        (b"Rust ok".as_slice(), b"0\r".as_slice()),
        "decoded chunks leave the buffer"
    );
    raw.extend_from_slice(b"\n\r\n");
    assert!(matches!(decode_chunks(&mut raw, &mut body, 100), Ok(true)));
    let mut big = b"65\r\n".to_vec();
    assert!(
        matches!(
            decode_chunks(&mut big, &mut Vec::new(), 100),
            Err(Step::Answer(413, _))
        ),
        "a chunk past the limit, before its data"
    );
    assert!(matches!(
        decode_chunks(&mut b"zz\r\n".to_vec(), &mut Vec::new(), 100),
        Err(Step::Answer(400, _))
    ));
    assert!(
        matches!(
            decode_chunks(&mut b"2\r\nabcd".to_vec(), &mut Vec::new(), 100),
            Err(Step::Answer(400, _))
        ),
        "data longer than its size"
    );
}

#[test]
fn routes() {
    assert_eq!(route("GET", "/healthz"), Route::Health);
    assert_eq!(route("POST", "/hooks/shop"), Route::Hook("shop"));
    assert_eq!(route("GET", "/hooks/shop/status"), Route::Status("shop"));
    assert_eq!(route("DELETE", "/hooks/shop"), Route::WrongMethod);
    assert_eq!(route("GET", "/nope"), Route::NotFound);
}
