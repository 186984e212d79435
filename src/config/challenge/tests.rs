//! `[challenge]` and the challenge keys of `[chains.issue]`: defaults, overrides, refusals.

use super::*;

use crate::config::tests::load;

#[test]
fn defaults_start_every_listener_and_answer_the_issue_domain() {
    let s = load("", &[]).unwrap();
    let server = s.challenge_server();
    assert_eq!(server.tlsalpn01, ["127.0.0.1:5001".parse().unwrap()]);
    assert_eq!(server.dns, ["127.0.0.1:8053".parse().unwrap()]);
    assert_eq!(server.zone.ipv4, [Ipv4Addr::LOCALHOST]);
    assert_eq!(server.max_entries, 10_000);
    assert_eq!(s.challenge_weights(), [(ChallengeType::Http01, 1)]);
}

#[test]
fn random_with_weights_from_a_toml_table() {
    let s = load(
        "[chains.issue]\nchallenge = \"random\"\n\
         challenge_weights = { \"http-01\" = 2, \"dns-01\" = 1 }\nwildcards = 0.25\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        s.challenge_weights(),
        [(ChallengeType::Http01, 2), (ChallengeType::Dns01, 1)]
    );
    assert_eq!(s.chains.issue.wildcards, 0.25);
    let all = load("[chains.issue]\nchallenge = \"random\"\n", &[]).unwrap();
    assert_eq!(all.challenge_weights().len(), 3, "all types weigh 1");
}

#[test]
fn environment_sets_the_choice_and_the_lists() {
    let s = load(
        "",
        &[
            ("WEC_CHAINS__ISSUE__CHALLENGE", "tls-alpn-01"),
            ("WEC_CHALLENGE__DNS_LISTEN", "127.0.0.1:9053,[::1]:9053"),
            ("WEC_CHALLENGE__ADDRESSES_V6", "::1"),
            ("WEC_CHALLENGE__BASE_DOMAINS", "wile.test,Other.Test"),
            ("WEC_CHALLENGE__MAX_ENTRIES", "50"),
        ],
    )
    .unwrap();
    assert_eq!(s.challenge_weights(), [(ChallengeType::TlsAlpn01, 1)]);
    let server = s.challenge_server();
    assert_eq!(server.dns.len(), 2);
    assert_eq!(server.zone.ipv6, [Ipv6Addr::LOCALHOST]);
    assert_eq!(server.zone.base_domains, ["wile.test", "other.test"]);
    assert_eq!(server.max_entries, 50);
}

#[test]
fn bad_challenge_settings_name_the_key_and_the_reason() {
    let cases = [
        (
            "[challenge]\ntlsalpn01_listen = [\"127.0.0.1\"]\n",
            "`challenge.tlsalpn01_listen`: \"127.0.0.1\"",
        ),
        (
            "[challenge]\naddresses_v4 = [\"::1\"]\n",
            "`challenge.addresses_v4`",
        ),
        (
            "[challenge]\nbase_domains = [\"bad domain\"]\n",
            "`challenge.base_domains`",
        ),
        (
            "[challenge]\nmax_entries = 0\n",
            "`challenge.max_entries`: must be at least 1",
        ),
        (
            "[chains.issue]\nchallenge = \"dns\"\n",
            "\"dns\" is not a challenge choice: http-01, tls-alpn-01, dns-01 or random",
        ),
        (
            "[chains.issue]\nchallenge = \"random\"\nchallenge_weights = { http01 = 1 }\n",
            "unknown field `http01`",
        ),
        (
            "[chains.issue]\nchallenge_weights = { \"dns-01\" = 1 }\n",
            "`chains.issue.challenge_weights`: only used with",
        ),
        (
            "[chains.issue]\nchallenge = \"random\"\nchallenge_weights = { \"dns-01\" = 0 }\n",
            "`chains.issue.challenge_weights`: every weight is 0",
        ),
        (
            "[challenge]\ntlsalpn01_listen = []\n[chains.issue]\nchallenge = \"tls-alpn-01\"\n",
            "`challenge.tlsalpn01_listen`: chains.issue.challenge uses tls-alpn-01",
        ),
        (
            "[challenge]\ndns_listen = []\n[chains.issue]\nchallenge = \"random\"\n",
            "`challenge.dns_listen`: chains.issue.challenge uses dns-01, which needs an \
             address here or in challenge.doh_listen",
        ),
        (
            "[challenge]\ndoh_listen = [\"127.0.0.1:8443\"]\n",
            "`challenge.doh_listen`: DNS over HTTPS needs challenge.doh_certificate and \
             challenge.doh_key",
        ),
        (
            "[challenge]\ndoh_listen = [\"127.0.0.1:8443\"]\n\
             doh_certificate = \"/nonexistent/doh.pem\"\ndoh_key = \"/nonexistent/k.pem\"\n",
            "`challenge.doh_certificate`: DNS over HTTPS certificate /nonexistent/doh.pem",
        ),
        (
            "[chains.issue]\nwildcards = 0.5\n",
            "`chains.issue.wildcards`: wildcard names can only be validated over dns-01",
        ),
        (
            "[chains.issue]\nchallenge = \"dns-01\"\nwildcards = 1.5\n",
            "`chains.issue.wildcards`: 1.5 is not a share",
        ),
        (
            "[challenge]\nbase_domains = [\"other.test\"]\n",
            "`challenge.base_domains`: the DNS would refuse to answer",
        ),
        (
            "[challenge]\nmax_connections = 0\n",
            "`challenge.max_connections`: 0 is not within 1..=65536",
        ),
        (
            "[challenge]\nclient_timeout = \"1h\"\n",
            "`challenge.client_timeout`: must be at most 5m",
        ),
        (
            "[challenge]\nclient_timeout = \"0s\"\n",
            "`challenge.client_timeout`: must be longer than zero",
        ),
        (
            "[challenge]\naddresses_v4 = []\n",
            "`challenge.addresses_v4`: the DNS needs an address",
        ),
    ];
    for (toml, expected) in cases {
        let err = load(toml, &[]).unwrap_err().to_string();
        assert!(err.contains(expected), "{toml}\n=> {err}");
    }
}

/// A Boulder setup may serve dns-01 over HTTPS only, with the plain DNS off; the key file
/// must belong to the certificate, and its contents never show in the error.
#[test]
fn dns_over_https_alone_serves_dns_01() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, cert_key) = crate::test_support::self_signed_ca("DoH");
    let (_, other_key) = crate::test_support::self_signed_ca("Other");
    let cert_path = dir.path().join("doh.pem");
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    let config = |key: &openssl::pkey::PKey<openssl::pkey::Private>| {
        let key_path = dir.path().join("key.pem");
        std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        format!(
            "[challenge]\ndns_listen = []\ndoh_listen = [\"127.0.0.1:8443\"]\n\
             doh_certificate = {cert_path:?}\ndoh_key = {key_path:?}\n\
             [chains.issue]\nchallenge = \"dns-01\"\n"
        )
    };
    let err = load(&config(&other_key), &[]).unwrap_err().to_string();
    assert!(err.contains("does it belong to the certificate?"), "{err}");
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    let s = load(&config(&cert_key), &[]).unwrap();
    let server = s.challenge_server();
    assert!(server.dns.is_empty());
    assert_eq!(server.doh, ["127.0.0.1:8443".parse().unwrap()]);
    assert!(server.doh_tls.is_some());
}

#[test]
fn the_registry_is_memory_or_a_redis_url_parsed_at_load() {
    let s = load("", &[]).unwrap();
    assert_eq!(s.challenge.registry, RegistryBackend::Memory);
    assert_eq!(s.challenge.registry_timeout, Duration::from_millis(250));
    let s = load(
        "[challenge]\nregistry = \"redis://wec:hunter2@redis:6380/3\"\n\
         registry_timeout = \"100ms\"\n",
        &[],
    )
    .unwrap();
    let RegistryBackend::Redis(url) = &s.challenge.registry else {
        panic!("{:?}", s.challenge.registry);
    };
    assert_eq!((url.host(), url.port(), url.db()), ("redis", 6380, 3));
    assert_eq!(url.credentials(), Some((Some("wec"), "hunter2")));
    assert_eq!(s.challenge.registry_timeout, Duration::from_millis(100));
    assert_eq!(
        s.challenge.registry.to_string(),
        "redis://wec:***@redis:6380/3"
    );
    assert!(!format!("{s:?}").contains("hunter2"));
    assert_eq!(s.challenge.linger, Duration::ZERO);
    let env = load(
        "",
        &[
            ("WEC_CHALLENGE__REGISTRY", "redis://127.0.0.1"),
            ("WEC_CHALLENGE__LINGER", "10s"),
        ],
    )
    .unwrap();
    assert_eq!(env.challenge.linger, Duration::from_secs(10));
    let err = load("[challenge]\nlinger = \"2h\"\n", &[]).unwrap_err();
    assert!(err
        .to_string()
        .contains("`challenge.linger`: must be at most 1h"));
    assert_eq!(env.challenge.registry.to_string(), "redis://127.0.0.1");
}

#[test]
fn registry_refusals_name_the_key_and_never_the_password() {
    let cases = [
        ("memroy", "`challenge.registry`: \"memroy\": relative URL"),
        (
            "rediss://u:hunter2@redis:6379",
            "`challenge.registry`: \"rediss://u:***@redis:6379\": TLS to Redis",
        ),
        (
            "http://u:hunter2@redis:6379",
            "`challenge.registry`: \"http://u:***@redis:6379\": not a redis:// URL",
        ),
        ("redis://u:hunter2@redis:0x1", "`challenge.registry`"),
        ("redis://redis/db1", "must be a database number"),
        (
            "redis://redis/0?timeout=1",
            "options (?…, #…) are not supported",
        ),
        ("redis://u@redis", "a user needs a password"),
    ];
    for (value, expected) in cases {
        let toml = format!("[challenge]\nregistry = \"{value}\"\n");
        let err = load(&toml, &[]).unwrap_err().to_string();
        assert!(err.contains(expected), "{value}\n=> {err}");
        assert!(!err.contains("hunter2"), "{err}");
        let env = load("", &[("WEC_CHALLENGE__REGISTRY", value)]);
        let err = env.unwrap_err().to_string();
        assert!(err.contains(expected), "{value} (environment)\n=> {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    for (timeout, expected) in [
        (
            "0s",
            "`challenge.registry_timeout`: must be longer than zero",
        ),
        ("10s", "`challenge.registry_timeout`: must be at most 5s"),
    ] {
        let toml = format!("[challenge]\nregistry_timeout = \"{timeout}\"\n");
        let err = load(&toml, &[]).unwrap_err().to_string();
        assert!(err.contains(expected), "{timeout}\n=> {err}");
    }
}

#[test]
fn boulder_setups_that_cannot_validate_are_warned_about() {
    let warnings = |toml: &str| load(toml, &[]).unwrap().warnings();
    assert!(
        warnings("").is_empty(),
        "a CA on loopback may reach loopback"
    );
    let remote = warnings("[target]\ndirectory_url = \"https://ca.internal/dir\"\n");
    assert_eq!(remote.len(), 1, "{remote:?}");
    assert!(remote[0].contains("127.0.0.1 (loopback)"), "{remote:?}");

    let boulder = warnings(
        "[target]\ndirectory_url = \"http://localhost:4001/directory\"\nflavor = \"boulder\"\n\
         [chains.issue]\nchallenge = \"random\"\n",
    );
    let joined = boulder.join("\n");
    for expected in [
        "127.0.0.1 (loopback)",
        "http01_listen: Boulder validates http-01 on port 80 only",
        "tlsalpn01_listen: Boulder validates tls-alpn-01 on port 443 only",
        "doh_listen: Boulder resolves only over DNS over HTTPS",
    ] {
        assert!(joined.contains(expected), "{expected}\n{joined}");
    }
    let right = warnings(
        "[target]\ndirectory_url = \"http://localhost:4001/directory\"\nflavor = \"boulder\"\n\
         [challenge]\nhttp01_listen = [\"64.112.117.5:80\"]\naddresses_v4 = [\"64.112.117.5\"]\n",
    );
    assert!(right.is_empty(), "{right:?}");
}

#[test]
fn listeners_may_be_off_when_their_type_is_unused() {
    let s = load(
        "[challenge]\ntlsalpn01_listen = []\ndns_listen = []\naddresses_v4 = []\n",
        &[],
    )
    .unwrap();
    let server = s.challenge_server();
    assert!(server.tlsalpn01.is_empty() && server.dns.is_empty());
    let dns_only = load(
        "[challenge]\nhttp01_listen = []\ntlsalpn01_listen = []\naddresses_v4 = []\n\
         [chains.issue]\nchallenge = \"dns-01\"\n",
        &[],
    );
    assert!(dns_only.is_ok(), "{dns_only:?}");
}
