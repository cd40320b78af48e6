use super::*;

const PASSWORD: &[u8] = b"correct horse battery staple";
const PLAINTEXT: &[u8] = b"DATABASE_URL=postgres://app:s3cret@db/app\nAPI_KEY=abc123\n";

/// `printf '%s' "$PLAINTEXT" > in; ansible-vault encrypt --vault-password-file pw in`
/// (ansible-core 2.19.14, password file holding `correct horse battery staple`).
const ANSIBLE_1_1: &str = "\
$ANSIBLE_VAULT;1.1;AES256
34653832663937613738326563636633323834303334633639393061616535353161343537353764
3563393361303066646261303066666239616336363563310a366235383435323563633436363961
62386438343161343434343736326435356339353332363133626161396532363831663431313964
3164633963353335630a343233386633356363383266663439393965316665613039353265653066
30303161353836623731303263303534643332613562306434643064383862386438633161353864
37343066626133646531356666393633393464656237306537646232386531396165356637366265
373263393830666165333365363637653664
";

/// As above with `--vault-id prod@pw` and `ANSIBLE_VAULT_ENCRYPT_SALT=` the salt below, so
/// the output is deterministic and our encryption must reproduce it byte for byte.
const ANSIBLE_1_2: &str = "\
$ANSIBLE_VAULT;1.2;AES256;prod
36343666366236623735326436333666366437303666373336353264366236653666373736653264
3631366537333737363537323264373336313663373432310a633030383466653461323439626534
33323161633239316538643833346363343337383936343232373539303737636331386666343237
6632313061323762330a623161663737623133323134333762313066303137633237636361376231
39643337323966306638363064313730363562313937346632396164366233383139626534613434
65396662373632666665663263656565373432333337663266376639653939663065346438633235
373136366439623634353133646439343434
";
const ANSIBLE_1_2_SALT: &[u8] = b"dokku-compose-known-answer-salt!";

/// The error, checked to carry neither the password nor the plaintext.
fn err(result: Result<Vec<u8>, VaultError>) -> VaultError {
    let e = result.expect_err("expected an error");
    let msg = e.to_string();
    assert!(
        !msg.contains("correct horse") && !msg.contains("s3cret"),
        "message leaks a secret: {msg}"
    );
    assert!(
        msg.starts_with(char::is_lowercase),
        "not a lowercase fragment: {msg}"
    );
    e
}

/// Re-encodes a vault file after `edit` changed its three hex payload lines.
fn tamper(file: &str, edit: impl FnOnce(&mut [String; 3])) -> String {
    let (head, body) = file.split_once('\n').unwrap();
    let payload = hex::decode(body.replace('\n', "")).unwrap();
    let text = String::from_utf8(payload).unwrap();
    let mut lines: [String; 3] = text
        .splitn(3, '\n')
        .map(str::to_string)
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    edit(&mut lines);
    format!("{head}\n{}\n", hex::encode(lines.join("\n")))
}

/// Flips the low bit of the hex digit at `i`, keeping it a hex digit.
fn flip(line: &mut String, i: usize) {
    let mut bytes = std::mem::take(line).into_bytes();
    let digit = u8::try_from(char::from(bytes[i]).to_digit(16).unwrap() ^ 1).unwrap();
    bytes[i] = b"0123456789abcdef"[usize::from(digit)];
    *line = String::from_utf8(bytes).unwrap();
}

#[test]
fn round_trip_1_1() {
    let file = encrypt(PLAINTEXT, PASSWORD, None).unwrap();
    assert!(file.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{file}");
    assert!(file.ends_with('\n'));
    assert!(file
        .lines()
        .skip(1)
        .all(|l| l.len() <= LINE_WIDTH && !l.is_empty()));
    assert_eq!(
        header(file.as_bytes()).unwrap(),
        VaultHeader {
            version: "1.1".into(),
            cipher: "AES256".into(),
            vault_id: None
        }
    );
    assert_eq!(decrypt(file.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
}

#[test]
fn round_trip_1_2() {
    let file = encrypt(PLAINTEXT, PASSWORD, Some("prod")).unwrap();
    assert!(
        file.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{file}"
    );
    assert_eq!(
        header(file.as_bytes()).unwrap().vault_id.as_deref(),
        Some("prod")
    );
    assert_eq!(decrypt(file.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
}

#[test]
fn salts_are_fresh() {
    let a = encrypt(PLAINTEXT, PASSWORD, None).unwrap();
    let b = encrypt(PLAINTEXT, PASSWORD, None).unwrap();
    assert_ne!(a, b);
}

#[test]
fn known_answer_from_ansible_vault() {
    assert_eq!(
        decrypt(ANSIBLE_1_1.as_bytes(), PASSWORD).unwrap(),
        PLAINTEXT
    );
    assert_eq!(
        decrypt(ANSIBLE_1_2.as_bytes(), PASSWORD).unwrap(),
        PLAINTEXT
    );
    assert_eq!(
        header(ANSIBLE_1_2.as_bytes()).unwrap().vault_id.as_deref(),
        Some("prod")
    );
}

#[test]
fn known_answer_encryption_matches_ansible_vault_byte_for_byte() {
    assert_eq!(
        seal(pad(PLAINTEXT), PASSWORD, ANSIBLE_1_2_SALT, Some("prod")),
        ANSIBLE_1_2
    );
}

#[test]
fn crlf_and_leading_whitespace_are_tolerated() {
    let crlf = ANSIBLE_1_1.replace('\n', "\r\n");
    assert_eq!(decrypt(crlf.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
    let indented = format!("\n  {ANSIBLE_1_1}\n\n");
    assert!(is_vault(indented.as_bytes()));
    assert_eq!(decrypt(indented.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
}

#[test]
fn wrong_password() {
    let e = err(decrypt(
        ANSIBLE_1_1.as_bytes(),
        b"correct horse battery stapler",
    ));
    assert!(matches!(e, VaultError::WrongPasswordOrTampered), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the vault password is wrong or the file was modified (HMAC mismatch)"
    );
    assert!(matches!(
        err(decrypt(ANSIBLE_1_1.as_bytes(), b"")),
        VaultError::WrongPasswordOrTampered
    ));
}

#[test]
fn tampered_ciphertext_hmac_or_salt() {
    for field in 0..3 {
        for i in [0, 17, 63] {
            let file = tamper(ANSIBLE_1_1, |lines| flip(&mut lines[field], i));
            let e = err(decrypt(file.as_bytes(), PASSWORD));
            assert!(
                matches!(e, VaultError::WrongPasswordOrTampered),
                "field {field}, digit {i}: {e:?}"
            );
        }
    }
    // Dropping a whole ciphertext block keeps the structure valid but breaks the HMAC.
    let file = tamper(ANSIBLE_1_1, |lines| lines[2].truncate(lines[2].len() - 32));
    assert!(matches!(
        err(decrypt(file.as_bytes(), PASSWORD)),
        VaultError::WrongPasswordOrTampered
    ));
}

#[test]
fn the_vault_id_is_only_a_label() {
    let relabelled = ANSIBLE_1_2.replace(";prod\n", ";staging\n");
    assert_eq!(decrypt(relabelled.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
}

#[test]
fn header_errors() {
    let body = ANSIBLE_1_1.split_once('\n').unwrap().1;
    let with = |head: &str| format!("{head}\n{body}");
    let v = |head: &str| err(decrypt(with(head).as_bytes(), PASSWORD));
    assert!(
        matches!(v("$ANSIBLE_VAULT;1.0;AES256"), VaultError::UnsupportedVersion(s) if s == "1.0")
    );
    assert!(
        matches!(v("$ANSIBLE_VAULT;;AES256"), VaultError::UnsupportedVersion(s) if s.is_empty())
    );
    assert!(
        matches!(v("$ANSIBLE_VAULT;1.1;AES128"), VaultError::UnsupportedCipher(s) if s == "AES128")
    );
    assert!(matches!(v("$ANSIBLE_VAULT;1.1"), VaultError::Malformed(_)));
    assert!(matches!(
        v("$ANSIBLE_VAULT;1.2;AES256;a;b"),
        VaultError::Malformed(_)
    ));
    assert!(matches!(
        v("$ANSIBLE_VAULTX;1.1;AES256"),
        VaultError::NotVault
    ));
    let bad_id = [
        b"$ANSIBLE_VAULT;1.2;AES256;\xff\n".as_slice(),
        body.as_bytes(),
    ]
    .concat();
    assert!(matches!(
        err(decrypt(&bad_id, PASSWORD)),
        VaultError::Malformed(_)
    ));
    // A huge hostile field is cut short in the message.
    let long = format!("$ANSIBLE_VAULT;{};AES256", "9".repeat(10_000));
    let msg = v(&long).to_string();
    assert!(msg.len() < 200, "{msg}");
    assert_eq!(
        header(with("$ANSIBLE_VAULT; 1.2 ; AES256 ; dev ").as_bytes())
            .unwrap()
            .vault_id
            .as_deref(),
        Some("dev")
    );
}

#[test]
fn not_a_vault() {
    for data in [
        &b""[..],
        b"   ",
        b"hello",
        b"$ANSIBLE_VAULT",
        b"ANSIBLE_VAULT;1.1;AES256\n00",
        b"\xef\xbb\xbf$ANSIBLE_VAULT;1.1;AES256\n",
    ] {
        assert!(!is_vault(data));
        assert!(matches!(err(decrypt(data, PASSWORD)), VaultError::NotVault));
        assert!(matches!(header(data), Err(VaultError::NotVault)));
    }
}

#[test]
fn malformed_payloads() {
    let head = "$ANSIBLE_VAULT;1.1;AES256\n";
    let salt = "ab".repeat(32);
    let hmac = "cd".repeat(32);
    let ct = "ef".repeat(32);
    let inner =
        |s: &str, h: &str, c: &str| format!("{head}{}\n", hex::encode(format!("{s}\n{h}\n{c}")));
    let cases: Vec<(String, &str)> = vec![
        (head.to_string(), "no payload"),
        ("$ANSIBLE_VAULT;1.1;AES256".to_string(), "no payload"),
        (format!("{head}\n\n"), "no payload"),
        (format!("{head}abc\n"), "payload has an odd number"),
        (
            format!("{head}zz\n"),
            "payload has a non-hex character at offset 0",
        ),
        (
            format!("{head}3031\n3g\n"),
            "payload has a non-hex character at offset 5",
        ),
        (
            format!("{head}{}\n", hex::encode("abcd")),
            "1 line(s), expected 3",
        ),
        (
            format!("{head}{}\n", hex::encode(format!("{salt}\n{hmac}"))),
            "2 line(s), expected 3",
        ),
        (inner(&salt[1..], &hmac, &ct), "salt has an odd number"),
        (inner("", &hmac, &ct), "salt is 0 bytes"),
        (
            inner(&"00".repeat(MAX_SALT_LEN + 1), &hmac, &ct),
            "salt is 1025 bytes",
        ),
        (inner(&salt, "xy", &ct), "hmac has a non-hex character"),
        (inner(&salt, &hmac[2..], &ct), "hmac is 31 bytes"),
        (inner(&salt, &hmac, ""), "ciphertext is 0 bytes"),
        (inner(&salt, &hmac, &ct[2..]), "ciphertext is 31 bytes"),
        (
            inner(&salt, &hmac, &format!("{ct}\n{ct}0")),
            "ciphertext has a non-hex character at offset 64",
        ),
    ];
    for (file, want) in cases {
        let e = err(decrypt(file.as_bytes(), PASSWORD));
        assert!(matches!(e, VaultError::Malformed(_)), "{file:?}: {e:?}");
        assert!(
            e.to_string().contains(want),
            "{file:?}: `{e}` lacks `{want}`"
        );
    }
}

#[test]
fn huge_inputs_are_refused_or_cheap() {
    // One huge line of valid hex without newlines inside: bounded, linear work.
    let file = format!(
        "$ANSIBLE_VAULT;1.1;AES256\n{}\n",
        "61".repeat(4 * 1024 * 1024)
    );
    assert!(matches!(
        err(decrypt(file.as_bytes(), PASSWORD)),
        VaultError::Malformed(_)
    ));
    let mut huge = b"$ANSIBLE_VAULT;1.1;AES256\n".to_vec();
    huge.resize(MAX_VAULT_LEN + 1, b'0');
    let e = err(decrypt(&huge, PASSWORD));
    assert!(
        matches!(
            e,
            VaultError::TooLarge {
                what: "vault file",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(matches!(header(&huge), Err(VaultError::TooLarge { .. })));
    let big = vec![0_u8; MAX_PLAINTEXT_LEN + 1];
    assert!(matches!(
        encrypt(&big, PASSWORD, None),
        Err(VaultError::TooLarge {
            what: "plaintext",
            ..
        })
    ));
}

#[test]
fn the_largest_plaintext_fits_under_the_file_limit() {
    let overhead = "$ANSIBLE_VAULT;1.2;AES256;".len() + 256;
    let padded = MAX_PLAINTEXT_LEN + BLOCK_LEN;
    let inner = 2 * SALT_LEN + 1 + 2 * HMAC_LEN + 1 + 2 * padded;
    let body = 2 * inner;
    let file_len = overhead + body + body / LINE_WIDTH + 1;
    assert!(file_len <= MAX_VAULT_LEN, "{file_len}");
}

#[test]
fn padding_edge_cases() {
    for (len, blocks) in [(0, 1), (1, 1), (15, 1), (16, 2), (17, 2), (32, 3)] {
        let plaintext: Vec<u8> = (0..len).map(|i| u8::try_from(i).unwrap()).collect();
        let padded = pad(&plaintext);
        assert_eq!(padded.len(), blocks * BLOCK_LEN, "len {len}");
        assert_eq!(unpadded_len(&padded), Some(len));
        let file = encrypt(&plaintext, PASSWORD, None).unwrap();
        assert_eq!(
            decrypt(file.as_bytes(), PASSWORD).unwrap(),
            plaintext,
            "len {len}"
        );
    }
}

#[test]
fn bad_padding_behind_a_valid_hmac() {
    let mut bad_tail = vec![b'x'; 16];
    bad_tail[14] = 3;
    bad_tail[15] = 2;
    for data in [
        vec![0_u8; 16],
        vec![17_u8; 16],
        [vec![0_u8; 31], vec![16]].concat(),
        bad_tail,
    ] {
        let file = seal(data, PASSWORD, &[7; SALT_LEN], None);
        let e = err(decrypt(file.as_bytes(), PASSWORD));
        assert!(matches!(e, VaultError::BadPadding), "{e:?}");
    }
    // A full block of padding is valid.
    let file = seal(vec![16_u8; 16], PASSWORD, &[7; SALT_LEN], None);
    assert_eq!(decrypt(file.as_bytes(), PASSWORD).unwrap(), b"");
}

#[test]
fn invalid_vault_ids() {
    for id in ["", "a;b", " a", "a ", "a\nb", "a\tb"] {
        let e = encrypt(b"x", PASSWORD, Some(id)).expect_err(id);
        assert!(matches!(e, VaultError::InvalidVaultId(_)), "{id:?}: {e:?}");
    }
    let file = encrypt(b"x", PASSWORD, Some("team prod/é")).unwrap();
    assert_eq!(
        header(file.as_bytes()).unwrap().vault_id.as_deref(),
        Some("team prod/é")
    );
}

#[test]
fn mutated_files_never_panic() {
    // A small deterministic fuzz: each mutation must give a plaintext or a typed error.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % 1_000_003).unwrap()
    };
    let original = ANSIBLE_1_1.as_bytes();
    for _ in 0..40 {
        let mut data = original.to_vec();
        match next() % 3 {
            0 => data.truncate(next() % original.len()),
            1 => {
                let i = next() % data.len();
                data[i] = u8::try_from(next() % 256).unwrap();
            }
            _ => {
                let i = next() % data.len();
                data.insert(i, b"\n;0a\r "[next() % 6]);
            }
        }
        if let Ok(plain) = decrypt(&data, PASSWORD) {
            assert_eq!(plain, PLAINTEXT);
        }
    }
}
