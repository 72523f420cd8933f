use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn err(url: &str) -> String {
    match parse(url) {
        Ok(u) => panic!("{url:?} parsed as {u:?}"),
        Err(e) => e.to_string(),
    }
}

fn opts(query: &str) -> FailoverOptions {
    let u = parse(&format!("failover:(tcp://a:1)?{query}")).unwrap();
    u.failover.unwrap()
}

#[test]
fn defaults_match_activemq() {
    let d = FailoverOptions::default();
    assert_eq!(d.initial_reconnect_delay, ms(10));
    assert_eq!(d.max_reconnect_delay, ms(30_000));
    assert!(d.use_exponential_backoff);
    assert_eq!(d.reconnect_delay_exponent, 2.0);
    assert_eq!(d.max_reconnect_attempts, None);
    assert_eq!(d.startup_max_reconnect_attempts, None);
    assert!(d.randomize);
    assert_eq!(d.timeout, None);
    let u = parse("failover:(tcp://h1:61616)").unwrap();
    assert_eq!(u.failover, Some(d));
}

#[test]
fn full_failover_example() {
    let u = parse(
        "failover:(tcp://h1:61616,tcp://h2:61618)?initialReconnectDelay=100&maxReconnectDelay=5000\
         &useExponentialBackOff=false&reconnectDelayExponent=1.5&maxReconnectAttempts=7\
         &startupMaxReconnectAttempts=3&randomize=false&timeout=2500",
    )
    .unwrap();
    assert_eq!(u.brokers.len(), 2);
    assert_eq!(u.brokers[0].addr(), "h1:61616");
    assert_eq!(u.brokers[1].addr(), "h2:61618");
    assert_eq!(u.brokers[1].scheme, Scheme::Tcp);
    let o = u.failover.unwrap();
    assert_eq!(
        o,
        FailoverOptions {
            initial_reconnect_delay: ms(100),
            max_reconnect_delay: ms(5000),
            use_exponential_backoff: false,
            reconnect_delay_exponent: 1.5,
            max_reconnect_attempts: Some(7),
            startup_max_reconnect_attempts: Some(3),
            randomize: false,
            timeout: Some(ms(2500)),
        }
    );
}

#[test]
fn brief_example_equals_defaults() {
    let u = parse(
        "failover:(tcp://h1:61616,tcp://h2:61618)?initialReconnectDelay=10&maxReconnectDelay=30000\
         &useExponentialBackOff=true&reconnectDelayExponent=2.0&maxReconnectAttempts=-1\
         &startupMaxReconnectAttempts=-1&randomize=true&timeout=-1",
    )
    .unwrap();
    assert_eq!(u.failover, Some(FailoverOptions::default()));
}

#[test]
fn each_option() {
    assert_eq!(
        opts("initialReconnectDelay=0").initial_reconnect_delay,
        ms(0)
    );
    assert_eq!(
        opts("maxReconnectDelay=60000").max_reconnect_delay,
        ms(60_000)
    );
    assert!(!opts("useExponentialBackOff=FALSE").use_exponential_backoff);
    assert_eq!(
        opts("reconnectDelayExponent=3").reconnect_delay_exponent,
        3.0
    );
    assert_eq!(
        opts("maxReconnectAttempts=0").max_reconnect_attempts,
        Some(0)
    );
    assert_eq!(opts("maxReconnectAttempts=-1").max_reconnect_attempts, None);
    let s = opts("startupMaxReconnectAttempts=12");
    assert_eq!(s.startup_max_reconnect_attempts, Some(12));
    assert!(!opts("randomize=false").randomize);
    assert!(opts("randomize=true").randomize);
    assert_eq!(opts("timeout=3000").timeout, Some(ms(3000)));
    assert_eq!(opts("timeout=-1").timeout, None);
    assert_eq!(opts("timeout=0").timeout, None);
    // Only the given option changes.
    let o = opts("randomize=false");
    assert_eq!(
        o,
        FailoverOptions {
            randomize: false,
            ..FailoverOptions::default()
        }
    );
}

#[test]
fn failover_forms() {
    let a = parse("failover:(tcp://h1:61616,tcp://h2:61618)").unwrap();
    let b = parse("failover:tcp://h1:61616,tcp://h2:61618").unwrap();
    let c = parse("failover://(tcp://h1:61616, tcp://h2:61618)").unwrap();
    let d = parse("  FAILOVER:tcp://h1:61616 , tcp://h2:61618 ").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);
    assert_eq!(a.failover, Some(FailoverOptions::default()));
    let single = parse("failover:stomp://only:61613").unwrap();
    assert_eq!(single.brokers.len(), 1);
    assert!(single.failover.is_some());
}

#[test]
fn plain_urls() {
    let u = parse("tcp://localhost:61613").unwrap();
    assert_eq!(u.failover, None);
    assert_eq!(
        u.brokers,
        vec![BrokerAddr {
            scheme: Scheme::Tcp,
            host: "localhost".into(),
            port: 61613
        }]
    );
    let s = parse("stomp://broker.example.com:1").unwrap();
    assert_eq!(s.brokers[0].scheme, Scheme::Stomp);
    assert_eq!(s.brokers[0].addr(), "broker.example.com:1");
    assert!(!s.needs_tls());
    let t = parse("stomp+ssl://secure:65535").unwrap();
    assert_eq!(t.brokers[0].scheme, Scheme::StompSsl);
    assert!(t.brokers[0].scheme.is_tls());
    assert!(t.needs_tls());
    assert_eq!(parse("TCP://h:2").unwrap().brokers[0].scheme, Scheme::Tcp);
    assert_eq!(
        parse("tcp://10.0.0.1:61613").unwrap().brokers[0].addr(),
        "10.0.0.1:61613"
    );
}

#[test]
fn ipv6() {
    let u = parse("tcp://[::1]:61613").unwrap();
    assert_eq!(u.brokers[0].host, "::1");
    assert_eq!(u.brokers[0].port, 61613);
    assert_eq!(u.brokers[0].addr(), "[::1]:61613");
    let f = parse("failover:(tcp://[fe80::1]:61616,stomp://[2001:db8::7]:61618)").unwrap();
    assert_eq!(f.brokers[0].addr(), "[fe80::1]:61616");
    assert_eq!(f.brokers[1].addr(), "[2001:db8::7]:61618");
    assert_eq!(f.brokers[1].scheme, Scheme::Stomp);
}

#[test]
fn delay_exponential() {
    let o = FailoverOptions::default();
    let got: Vec<u64> = (0..6).map(|a| o.delay(a).as_millis() as u64).collect();
    assert_eq!(got, vec![10, 20, 40, 80, 160, 320]);
    assert_eq!(o.delay(11), ms(20_480));
    assert_eq!(o.delay(12), ms(30_000)); // 40960 capped
    assert_eq!(o.delay(u32::MAX), ms(30_000));
    let half = FailoverOptions {
        reconnect_delay_exponent: 1.5,
        initial_reconnect_delay: ms(100),
        max_reconnect_delay: ms(1000),
        ..FailoverOptions::default()
    };
    assert_eq!(half.delay(0), ms(100));
    assert_eq!(half.delay(1), ms(150));
    assert_eq!(half.delay(2), ms(225));
    assert_eq!(half.delay(6), ms(1000)); // 1139 capped
}

#[test]
fn delay_constant_and_edge_cases() {
    let o = opts("useExponentialBackOff=false&initialReconnectDelay=250");
    for a in [0, 1, 5, 1000, u32::MAX] {
        assert_eq!(o.delay(a), ms(250));
    }
    let zero = opts("initialReconnectDelay=0");
    assert_eq!(zero.delay(50), ms(0));
    let nan = FailoverOptions {
        reconnect_delay_exponent: f64::NAN,
        ..FailoverOptions::default()
    };
    assert_eq!(nan.delay(3), ms(30_000));
    let small_max = opts("initialReconnectDelay=500&maxReconnectDelay=100");
    assert_eq!(small_max.delay(0), ms(100));
}

#[test]
fn error_messages_point_at_the_offending_part() {
    let cases: &[(&str, &[&str])] = &[
        ("", &["empty URL"]),
        ("   ", &["empty URL"]),
        (
            "failover:(tcp://a:1)?initialReconectDelay=10",
            &["unknown option 'initialReconectDelay'", "in 'failover:(tcp://a:1)?initialReconectDelay=10'", "known: initialReconnectDelay, maxReconnectDelay"],
        ),
        ("failover:(tcp://a:1)?maxReconnectDelay=abc", &["bad value 'abc' for maxReconnectDelay: expected milliseconds"]),
        ("failover:(tcp://a:1)?initialReconnectDelay=-5", &["bad value '-5' for initialReconnectDelay"]),
        ("failover:(tcp://a:1)?useExponentialBackOff=yes", &["bad value 'yes' for useExponentialBackOff", "true or false"]),
        ("failover:(tcp://a:1)?randomize=1", &["bad value '1' for randomize"]),
        ("failover:(tcp://a:1)?reconnectDelayExponent=NaN", &["bad value 'NaN' for reconnectDelayExponent"]),
        ("failover:(tcp://a:1)?reconnectDelayExponent=-2", &["bad value '-2' for reconnectDelayExponent"]),
        ("failover:(tcp://a:1)?maxReconnectAttempts=-2", &["bad value '-2' for maxReconnectAttempts"]),
        ("failover:(tcp://a:1)?startupMaxReconnectAttempts=x", &["bad value 'x' for startupMaxReconnectAttempts"]),
        ("failover:(tcp://a:1)?maxReconnectAttempts=99999999999", &["bad value '99999999999'"]),
        ("failover:(tcp://a:1)?timeout=-7", &["bad value '-7' for timeout"]),
        ("failover:(tcp://a:1)?timeout=", &["bad value '' for timeout"]),
        ("failover:(tcp://a:1)?timeout", &["option 'timeout' has no value"]),
        ("failover:(tcp://a:1)?randomize=true&&timeout=1", &["empty option"]),
        ("failover:(tcp://a:1)?randomize=true&randomize=false", &["duplicate option 'randomize'"]),
        ("http://h:1", &["unsupported scheme 'http' in 'http://h:1' (expected tcp, stomp, stomp+ssl or failover)"]),
        ("failover:(tcp://a:1,ws://b:2)", &["unsupported scheme 'ws' in 'ws://b:2'"]),
        ("localhost:61613", &["missing scheme in 'localhost:61613'"]),
        ("tcp://h", &["missing port in 'tcp://h'"]),
        ("tcp://h:", &["missing port in 'tcp://h:'"]),
        ("tcp://[::1]", &["missing port in 'tcp://[::1]'"]),
        ("tcp://h:abc", &["bad port 'abc' in 'tcp://h:abc'"]),
        ("tcp://h:-1", &["bad port '-1'"]),
        ("tcp://h:65536", &["port 65536 out of range in 'tcp://h:65536'"]),
        ("tcp://h:0", &["port 0 out of range"]),
        ("tcp://h:99999999999999999999", &["port 99999999999999999999 out of range"]),
        ("tcp://:61613", &["missing host in 'tcp://:61613'"]),
        ("tcp://us er@h:1", &["bad host 'us er@h'"]),
        ("tcp://[nothex]:1", &["bad host 'nothex'"]),
        ("tcp://[::1:1", &["bad host '[::1:1'"]),
        ("tcp://::1:61613", &["IPv6 address '::1:61613'", "must be in brackets"]),
        ("tcp://h:1/queue", &["unexpected path '/queue' in 'tcp://h:1/queue'"]),
        ("failover:()", &["empty broker list in 'failover:()'"]),
        ("failover:", &["empty broker list"]),
        ("failover:(tcp://a:1,,tcp://b:2)", &["empty broker entry"]),
        ("failover:(tcp://a:1,tcp://b:2", &["unbalanced parentheses in 'failover:(tcp://a:1,tcp://b:2'"]),
        ("failover:tcp://a:1)", &["unbalanced parentheses"]),
        ("failover:((tcp://a:1))", &["unbalanced parentheses"]),
        ("failover:(tcp://a:1)junk", &["unexpected 'junk' after ')'"]),
        ("failover:tcp://a:1,tcp://b:2?randomize=false", &["need the parenthesised form"]),
        ("failover:(tcp://a:1?wireFormat.maxInactivityDuration=0)", &["options on nested broker 'tcp://a:1?wireFormat.maxInactivityDuration=0'"]),
        ("failover:(failover:(tcp://a:1))", &["unbalanced"]),
        ("failover:failover:tcp://a:1", &["nested failover 'failover:tcp://a:1'"]),
        ("tcp://h:1?randomize=false", &["option 'randomize' on plain URL 'tcp://h:1?randomize=false'"]),
        ("stomp://h:1?foo", &["option 'foo' on plain URL"]),
    ];
    for (url, fragments) in cases {
        let msg = err(url);
        for f in *fragments {
            assert!(msg.contains(f), "{url:?}: {msg:?} lacks {f:?}");
        }
    }
}

#[test]
fn error_values_are_structured() {
    assert_eq!(
        parse("failover:(tcp://a:1)?maxReconnectDelay=abc"),
        Err(UrlError::BadValue {
            value: "abc".into(),
            option: "maxReconnectDelay".into(),
            expected: "milliseconds",
        })
    );
    assert_eq!(
        parse("tcp://h:70000"),
        Err(UrlError::PortOutOfRange {
            port: "70000".into(),
            broker: "tcp://h:70000".into(),
        })
    );
}

/// Small deterministic xorshift generator, so the test needs no crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_inputs_never_panic() {
    let alphabet: Vec<char> = "failovertcpsom+:/[]()?&=,.-_ 0123456789:abcdefé€\u{0}\u{10FFFF}"
        .chars()
        .collect();
    let seeds = [
        "failover:(tcp://h1:61616,tcp://[::1]:61618)?initialReconnectDelay=10&timeout=-1",
        "failover:tcp://h1:61616,stomp+ssl://h2:61618",
        "stomp://[2001:db8::1]:61613",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut ok = 0;
    for i in 0..30_000 {
        let s: String = if i % 2 == 0 {
            let len = rng.below(40);
            (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        } else {
            // Mutate a valid URL: replace, delete or insert a few chars.
            let mut chars: Vec<char> = seeds[rng.below(seeds.len())].chars().collect();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(chars.len() + 1);
                let c = alphabet[rng.below(alphabet.len())];
                match rng.below(3) {
                    0 if at < chars.len() => chars[at] = c,
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ => chars.insert(at, c),
                }
            }
            chars.into_iter().collect()
        };
        if let Ok(u) = parse(&s) {
            ok += 1;
            assert!(!u.brokers.is_empty(), "{s:?}");
            for b in &u.brokers {
                assert!(b.port > 0 && !b.host.is_empty(), "{s:?}");
                let _ = b.addr();
            }
            if let Some(f) = &u.failover {
                let _ = f.delay(rng.next() as u32);
            }
        }
    }
    assert!(ok > 0, "mutations should sometimes stay valid");
}
