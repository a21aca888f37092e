//! A schema-driven fuzzer (schemathesis, from PyPI; `.ci/run` installs the
//! version this was written for) against the real `wjp api` and its
//! `/openapi.json`, with every check it has: no server error, every status,
//! media type, header and body as documented (event streams message by
//! message), schema-valid requests accepted and invalid ones refused. The
//! few refusals no schema can foresee are allowed, with their reasons, in
//! `schemathesis.toml` beside this file. The seed is fixed so a run is
//! repeatable, and the number of examples small so CI stays quick.

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{signal, wait_exit, Env};

#[test]
fn a_schema_driven_fuzzer_finds_no_nonconformance() {
    let st = which("st").unwrap_or_else(|| {
        panic!("schemathesis (`st`) is not on PATH: `python3 -m pip install schemathesis==4.32.5` (.ci/run does)")
    });
    let env = Env::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut api = env
        .command()
        .args(["api", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wjp api");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "wjp api did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Events to resume from: schemathesis.toml mixes their ids into the
    // Last-Event-ID it sends, so real stream messages get checked.
    for _ in 0..3 {
        env.submit(&["noop"]);
    }
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let out = Command::new(st)
        .args(["--config-file", config])
        .args(["run", &format!("http://127.0.0.1:{port}/openapi.json")])
        .args(["--checks", "all", "--continue-on-failure"])
        // Coverage: the boundaries of every documented value, once each;
        // fuzzing: random requests. (A stateful run passes too but for jobs
        // submitted with a zero TTL, which vanish at once by design.)
        .args(["--phases", "coverage,fuzzing"])
        .args(["--max-examples", "15", "--seed", "1", "--workers", "1"])
        .args(["--request-timeout", "10"])
        .output()
        .expect("run schemathesis");
    signal(&api, "TERM");
    wait_exit(&mut api, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("passed"), "no test case ran:\n{text}");
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| p.is_file())
}
