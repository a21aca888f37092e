//! A real `redis-server` for tests: started on a free port in a temporary
//! directory (append-only file on, so a restart keeps the data), stopped
//! when dropped. CI installs `redis-server`; without it the tests fail with
//! a message saying so rather than skip.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    /// Environment variables of the server's process.
    env: Vec<(String, String)>,
    tls: bool,
}

fn binary() -> PathBuf {
    let path = std::env::var_os("WJP_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/redis-server"));
    assert!(
        path.exists(),
        "{} not found: the Redis backend tests need a real redis-server \
         (install Debian's `redis-server` package, or set WJP_REDIS_SERVER to its path)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

impl RedisServer {
    /// Starts a server; `extra` are more `redis-server` arguments.
    pub fn start(extra: &[&str]) -> RedisServer {
        RedisServer::start_with_env(extra, &[])
    }

    /// Starts a server whose process has `env` besides this one's
    /// environment (a locale, say).
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tls: false,
        };
        server.spawn(true);
        server
    }

    /// A server that speaks only TLS (with the test certificate in
    /// `support/tls`, valid for `localhost` and 127.0.0.1) and requires a
    /// password.
    pub fn start_tls(password: &str) -> RedisServer {
        let tls = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/tls");
        let path = |name: &str| tls.join(name).display().to_string();
        let port = free_port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            extra: vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.to_string(),
                "--tls-cert-file".into(),
                path("server.crt"),
                "--tls-key-file".into(),
                path("server.key"),
                "--tls-auth-clients".into(),
                "no".into(),
                "--requirepass".into(),
                password.into(),
            ],
            env: Vec::new(),
            tls: true,
        };
        server.spawn(false);
        server
    }

    /// The test certificate, for clients to trust.
    pub fn tls_certificate() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/tls/server.crt")
    }

    fn spawn(&mut self, may_move: bool) {
        let mut last_error = String::new();
        for _ in 0..3 {
            let child = Command::new(binary())
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(self.dir.path())
                .args(["--save", "", "--appendonly", "yes", "--daemonize", "no"])
                .args(["--logfile", "redis.log"])
                .args(&self.extra)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            self.child = Some(child);
            match self.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return,
                Err(e) => {
                    last_error = e;
                    self.kill();
                    if may_move {
                        // The port may have been taken meanwhile: pick another.
                        self.port = free_port();
                    }
                }
            }
        }
        let log = std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
        panic!("redis-server did not start: {last_error}\n{log}");
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("redis-server exited with {status}"));
            }
            if self.tls {
                // Listening is enough: speaking TLS is the test's business.
                match std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                    Ok(_) => return Ok(()),
                    Err(e) if started.elapsed() > limit => return Err(e.to_string()),
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
            }
            let ping = redis::Client::open(self.plain_url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            match ping {
                Ok(_) => return Ok(()),
                // With a password set, an unauthenticated PING is refused:
                // the server is up.
                Err(e) if e.to_string().contains("NOAUTH") => return Ok(()),
                Err(e) if started.elapsed() > limit => return Err(e.to_string()),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn plain_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The URL of database `db`.
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL: no chance to flush anything (the AOF has what was fsynced).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn(false);
    }

    /// A synchronous connection, for inspecting keys.
    pub fn connection(&self, db: u32) -> redis::Connection {
        redis::Client::open(self.url(db))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A job's record as the server holds it: a field of its queue's record
/// hash (`wjp:{q}:r:<the id's last two characters>`) when packed, else the
/// job's own key; `None` when there is neither.
pub fn stored_record(conn: &mut redis::Connection, queue: &str, id: &str) -> Option<String> {
    let packed: Option<String> = redis::cmd("HGET")
        .arg(record_hash(queue, id))
        .arg(id)
        .query(conn)
        .expect("HGET of a record hash");
    packed.or_else(|| {
        redis::cmd("GET")
            .arg(format!("wjp:{{{queue}}}:job:{id}"))
            .query(conn)
            .expect("GET of a job key")
    })
}

/// Writes a job's record as a key of its own, as layouts before 8 kept
/// every record, and takes it out of its record hash.
pub fn store_record_as_key(conn: &mut redis::Connection, queue: &str, id: &str, record: &str) {
    redis::pipe()
        .cmd("HDEL")
        .arg(record_hash(queue, id))
        .arg(id)
        .cmd("SET")
        .arg(format!("wjp:{{{queue}}}:job:{id}"))
        .arg(record)
        .query::<()>(conn)
        .expect("a record written as a key");
}

/// The record hash that packs the record of job `id` of `queue`.
fn record_hash(queue: &str, id: &str) -> String {
    let tail = &id[id.len().saturating_sub(2)..];
    format!("wjp:{{{queue}}}:r:{tail}")
}

/// The ready key in a stored header (its last field), made again from
/// the list score and sequence when the header leaves it out (the plain
/// key: default priority, due at its creation); base-64 digits written as
/// the bytes `'0' + d`, 6, 8 and 7 of them.
pub fn ready_key_in(header: &str) -> String {
    let fields: Vec<&str> = header.split('|').collect();
    let stored = fields[7];
    if !stored.is_empty() {
        return stored.to_owned();
    }
    let digits = |mut n: u64, width: usize| -> String {
        let mut out = vec![b'0'; width];
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (n % 64) as u8;
            n /= 64;
        }
        String::from_utf8(out).expect("ASCII digits")
    };
    let seq: u64 = fields[5].parse().expect("a sequence");
    let list_score: u64 = fields[6].parse().expect("a list score");
    digits(2_147_483_647, 6) + &digits(list_score / 1000, 8) + &digits(seq, 7)
}

/// A stored header as layouts before 8 wrote it: the status as a word, the
/// ready key always there.
pub fn earlier_header(header: &str) -> String {
    let mut fields: Vec<String> = header.split('|').map(str::to_owned).collect();
    let word = match fields[0].as_str() {
        "w" => "waiting",
        "s" => "scheduled",
        "q" => "queued",
        "c" => "completed",
        "f" => "failed",
        "x" => "cancelled",
        other => other,
    };
    fields[0] = word.to_owned();
    fields[7] = ready_key_in(header);
    fields.join("|")
}
