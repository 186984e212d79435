//! A private `redis-server` per test (the Debian package, installed by `scripts/install-deps`)
//! on a free loopback port, in a temporary directory, persisting nothing; killed on drop. Never
//! the machine's own Redis on 6379. A few blocking RESP calls read back what the tool stored.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, require};

/// A reply, as the tests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Value>),
}

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts it and waits until it answers PING.
    pub fn start() -> RedisServer {
        require("redis-server");
        let dir = tempfile::tempdir().unwrap();
        let mut redis = RedisServer {
            child: None,
            port: free_port(),
            dir,
        };
        redis.up();
        redis
    }

    fn up(&mut self) {
        let mut cmd = Command::new("redis-server");
        // SAFETY: prctl(2) is async-signal-safe. The server dies with the thread that started
        // it (the test's), even when the test process is killed and no Drop runs.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning", "--logfile"])
            .arg(self.dir.path().join("redis.log"))
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if self.try_call(&["PING"]).ok() == Some(Value::Status("PONG".into())) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("redis-server exited at start ({status}): {}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "redis-server did not answer PING on port {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Kills it at once (SIGKILL), as a crash: connections are reset, the port refuses.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.up();
    }

    /// Freezes it (SIGSTOP): connections are accepted by the kernel and never answered, as a
    /// Redis that hangs or a network that drops packets.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a frozen Redis run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        assert!(self.send(signal), "signal {signal} to redis-server");
    }

    /// Sends `signal` to the server; whether it was delivered.
    fn send(&self, signal: i32) -> bool {
        let Some(child) = &self.child else {
            return false;
        };
        // SAFETY: kill(2) on the pid of our own child, which has not been waited for (so the
        // pid cannot have been reused).
        unsafe { libc::kill(child.id() as i32, signal) == 0 }
    }

    /// One command; panics when Redis cannot be reached.
    pub fn call(&self, args: &[&str]) -> Value {
        self.try_call(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn try_call(&self, args: &[&str]) -> std::io::Result<Value> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out += &format!("${}\r\n{a}\r\n", a.len());
        }
        conn.write_all(out.as_bytes())?;
        read(&mut BufReader::new(conn))
    }

    /// The integer reply of a command (`PTTL`, `EXISTS`, `ZCARD`…).
    pub fn int(&self, args: &[&str]) -> i64 {
        match self.call(args) {
            Value::Int(n) => n,
            other => panic!("{args:?}: {other:?}"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A frozen server dies of SIGKILL all the same; never panic while unwinding.
        self.send(libc::SIGCONT);
        self.kill();
    }
}

fn read(r: &mut impl BufRead) -> std::io::Result<Value> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    let bad = || std::io::Error::other(format!("not RESP: {line:?}"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    let number = || rest.parse::<i64>().map_err(|_| bad());
    Ok(match kind {
        "+" => Value::Status(rest.into()),
        "-" => Value::Error(rest.into()),
        ":" => Value::Int(number()?),
        "$" => match number()? {
            -1 => Value::Bulk(None),
            n => {
                let mut body = vec![0; n as usize + 2];
                r.read_exact(&mut body)?;
                body.truncate(n as usize);
                Value::Bulk(Some(String::from_utf8_lossy(&body).into_owned()))
            }
        },
        "*" => {
            let n = number()?.max(0);
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(read(r)?);
            }
            Value::Array(items)
        }
        _ => return Err(bad()),
    })
}
