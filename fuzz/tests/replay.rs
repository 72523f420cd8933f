//! Stable-toolchain replay: runs every committed seed (including the inputs
//! of crashes found earlier, `seeds/*/regression-*`) through the same
//! checks as the fuzz targets, without libFuzzer or nightly flags:
//! `cargo test --manifest-path fuzz/Cargo.toml`.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("seed folder") {
        let path = entry.expect("seed").path();
        let data = std::fs::read(&path).expect("read seed");
        eprintln!("{}", path.display());
        check(&data);
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn stomp_decoder_seeds() {
    replay("stomp_decoder", baton_fuzz::stomp_decoder);
}

#[test]
fn openwire_decoder_seeds() {
    replay("openwire_decoder", baton_fuzz::openwire_decoder);
}

#[test]
fn failover_url_seeds() {
    replay("failover_url", baton_fuzz::failover_url);
}

#[test]
fn config_seeds() {
    replay("config", baton_fuzz::config);
}

#[test]
fn import_activemq_seeds() {
    replay("import_activemq", baton_fuzz::import_activemq);
}
