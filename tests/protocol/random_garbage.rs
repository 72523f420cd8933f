//! Random garbage built from valid frames never takes the broker down.

use super::helpers::*;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fuzz_input(rng: &mut XorShift, seeds: &[Vec<u8>]) -> Vec<u8> {
    const STRUCTURAL: &[u8] = b"\n\r\0:\\cnrt-0123456789SENDACKCONNECTcontent-length/queue/\xff ";
    match rng.below(3) {
        0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        1 => (0..rng.below(120))
            .map(|_| STRUCTURAL[rng.below(STRUCTURAL.len())])
            .collect(),
        _ => {
            let mut input = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                let len = input.len();
                match rng.below(5) {
                    0 if len > 0 => {
                        let i = rng.below(len);
                        input[i] = rng.next() as u8;
                    }
                    1 => {
                        let i = rng.below(len + 1);
                        input.insert(i, STRUCTURAL[rng.below(STRUCTURAL.len())]);
                    }
                    2 if len > 0 => {
                        input.remove(rng.below(len));
                    }
                    3 => input.truncate(rng.below(len + 1)),
                    _ => {
                        let a = rng.below(len + 1);
                        let b = (a + rng.below(16)).min(len);
                        let chunk = input[a..b].to_vec();
                        let at = rng.below(len + 1);
                        input.splice(at..at, chunk);
                    }
                }
            }
            input
        }
    }
}

#[tokio::test]
async fn garbage_never_takes_the_broker_down() {
    let b = Baton::start_with(&[
        "--stomp-max-body-bytes",
        "1000",
        "--stomp-max-headers",
        "20",
    ]);
    let connect12 = frame(
        "CONNECT",
        &[("accept-version", "1.2"), ("heart-beat", "0,0")],
        b"",
    );
    let mut seeds: Vec<Vec<u8>> = vec![
        connect12.clone(),
        frame("STOMP", &[("accept-version", "1.0,1.1")], b""),
        frame("CONNECT", &[], b""),
    ];
    let tails = [
        frame(
            "SEND",
            &[("destination", "/queue/fz"), ("receipt", "1")],
            b"hi",
        ),
        frame(
            "SEND",
            &[
                ("destination", "/topic/fz"),
                ("content-length", "3"),
                ("h", "a\\cb"),
            ],
            b"a\0b",
        ),
        frame(
            "SUBSCRIBE",
            &[("destination", "/queue/fz"), ("id", "0"), ("ack", "client")],
            b"",
        ),
        frame("ACK", &[("id", "1:0")], b""),
        frame("BEGIN", &[("transaction", "t")], b""),
        frame("DISCONNECT", &[("receipt", "9")], b""),
    ];
    for t in &tails {
        let mut s = connect12.clone();
        s.extend_from_slice(t);
        seeds.push(s);
        seeds.push(t.clone());
    }
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let mut errors = 0;
    for i in 0..500 {
        let input = fuzz_input(&mut rng, &seeds);
        let mut raw = Raw::connect(&b.stomp);
        raw.try_write(&input);
        // Half-close: an incomplete frame can never complete, so the
        // broker must end the session instead of waiting.
        let _ = raw.stream.shutdown(Shutdown::Write);
        let mut seen_error = false;
        loop {
            match raw.next_incoming(Version::V1_0) {
                Incoming::Closed => break,
                Incoming::TimedOut => panic!(
                    "input {i} {:?}: the broker neither answered nor closed",
                    String::from_utf8_lossy(&input)
                ),
                Incoming::Frame(f, _) => {
                    assert!(!seen_error, "input {i}: frame after ERROR: {f:?}");
                    match f.command {
                        Command::Error => {
                            seen_error = true;
                            errors += 1;
                            assert!(f.header("message").is_some(), "{f:?}");
                        }
                        Command::Connected | Command::Receipt | Command::Message => {}
                        other => panic!("input {i}: server sent {other}"),
                    }
                }
            }
        }
    }
    assert!(
        errors > 100,
        "only {errors} inputs were answered with ERROR"
    );
    assert!(!b.log_contains("panicked"), "{}", b.log_text());

    // The broker still serves normal clients.
    let mut consumer = Client::connect(&b.stomp).await.unwrap();
    consumer
        .subscribe("/queue/after-fuzz", "s", "auto", &[])
        .await
        .unwrap();
    let mut producer = Client::connect(&b.stomp).await.unwrap();
    producer
        .send("/queue/after-fuzz", "still here", &[])
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(10), consumer.next_message())
        .await
        .expect("no MESSAGE within 10 s")
        .unwrap();
    assert_eq!(&m.body[..], b"still here");
}
