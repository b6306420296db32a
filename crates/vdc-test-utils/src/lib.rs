//! A whole vdc stack per integration test: a fresh store (SQLite file in a temp dir, or a new
//! database on the test PostgreSQL), the server on port 0, a simulated fleet, and an HTTP
//! client with helpers. Polls with [`wait_for_condition`]; never sleeps blindly.
//!
//! PostgreSQL tests need `DATABASE_URL` (set by `scripts/test.sh`, which starts a throwaway
//! server); without it they fail loudly rather than pass by skipping.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vdc_driver::sim::{SimClock, SimFleet};
use vdc_server::{Config, Fleet, Server, SimConfig};

/// The repository's test data (`$VDC_TEST_DATA`, else `testdata/` of this checkout; each set
/// has a README with its origin and licence), for tests that replay real traces or read real
/// files. Missing data fails the test; it never skips it.
pub fn test_data() -> PathBuf {
    let dir = std::env::var_os("VDC_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata"));
    assert!(
        dir.join("bitbrains-rnd").is_dir(),
        "the test data {} is missing: these tests need it and must not be skipped",
        dir.display()
    );
    dir
}

/// A gzip file's text.
pub fn read_gz(path: &std::path::Path) -> String {
    use std::io::Read;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut s = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut s)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    s
}

/// Which store a stack runs on, and a fresh database on it.
pub use vdc_db::scratch::{Store, fresh_database};

/// The admin password every test stack starts with.
pub const ADMIN_PASSWORD: &str = "admin-test-password";

/// Options of a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub store: Store,
    pub hosts: usize,
    pub vms: usize,
    pub seed: u64,
    /// The server's power command (see `vdc_server::Config::power_command`).
    pub power_command: Option<String>,
    /// Hosts per simulated cluster.
    pub hosts_per_cluster: usize,
    /// Changes to the server's configuration.
    pub configure: Option<fn(&mut Config)>,
    /// The LDAP directory users may log in through.
    pub ldap: Option<vdc_server::app::config::LdapConfig>,
}

impl StackOptions {
    /// 4 hosts, 20 VMs.
    pub fn new(store: Store) -> StackOptions {
        StackOptions {
            store,
            hosts: 4,
            vms: 20,
            seed: 42,
            power_command: None,
            hosts_per_cluster: SimConfig::default().hosts_per_cluster,
            configure: None,
            ldap: None,
        }
    }
}

/// A throwaway OpenLDAP for one test (`scripts/ldap-test-server.sh`: users alice, bob, carol
/// (disabled) and dave, groups vdc-admins and web-devs), with a CA-signed certificate for
/// LDAPS and StartTLS; stopped on drop. Fails loudly when slapd cannot start.
#[derive(Debug)]
pub struct LdapServer {
    /// `ldap://127.0.0.1:PORT` (StartTLS offered).
    pub url: String,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_url: String,
    /// The CA that signed the server's certificate (PEM).
    pub ca: PathBuf,
    pub base_dn: String,
    pub bind_dn: String,
    pub bind_password: String,
    dir: String,
}

impl LdapServer {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ldap-test-server.sh")
    }

    pub fn start() -> LdapServer {
        let out = std::process::Command::new(Self::script())
            .arg("start")
            .output()
            .expect("run scripts/ldap-test-server.sh");
        assert!(
            out.status.success(),
            "slapd did not start (LDAP tests need it; scripts/install-test-deps.sh installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: std::collections::HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = |k: &str| vars.get(k).unwrap_or_else(|| panic!("{k} missing")).clone();
        LdapServer {
            url: var("LDAP_URL"),
            ldaps_url: var("LDAPS_URL"),
            ca: var("LDAP_CA").into(),
            base_dn: var("LDAP_BASE_DN"),
            bind_dn: var("LDAP_BIND_DN"),
            bind_password: var("LDAP_BIND_PW"),
            dir: var("LDAPTEST_DIR"),
        }
    }

    /// vdc's configuration for this directory at `url` (one of its URLs), with the service
    /// account and these group mappings.
    pub fn config(&self, url: &str, groups: &[&str]) -> vdc_server::app::config::LdapConfig {
        let mut c = vdc_server::app::config::LdapConfig::new(url, &self.base_dn);
        c.bind_dn = Some(self.bind_dn.clone());
        c.bind_password = Some(vdc_server::app::config::Secret::new(&self.bind_password));
        c.ca_file = Some(self.ca.clone());
        c.groups = groups
            .iter()
            .map(|g| g.parse().expect("group mapping"))
            .collect();
        c
    }
}

impl Drop for LdapServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Self::script())
            .args(["stop", &self.dir])
            .status();
    }
}

/// A port on loopback that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// A real Prometheus (Debian's `prometheus`) scraping `target` (`host:port`) every second
/// at `/metrics` with `token` as bearer credentials; stopped on drop. Fails loudly when it
/// cannot start.
#[derive(Debug)]
pub struct PrometheusServer {
    /// `http://127.0.0.1:PORT`: its query API is under `/api/v1`.
    pub url: String,
    child: std::process::Child,
    dir: PathBuf,
}

impl PrometheusServer {
    pub async fn start(target: &str, token: &str) -> PrometheusServer {
        init_logs();
        let dir = std::env::temp_dir().join(format!("vdc-prom-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        std::fs::write(dir.join("token"), token).expect("token file");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: vdc\n    metrics_path: /metrics\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['{target}']\n",
            dir.join("token").display()
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus config");
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = std::process::Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start prometheus (scripts/install-test-deps.sh installs it)");
        let server = PrometheusServer {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        let ready = format!("{}/-/ready", server.url);
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(&ready).send().await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "prometheus did not become ready: {}",
            std::fs::read_to_string(server.dir.join("prometheus.log")).unwrap_or_default()
        );
    }

    /// The result vector of an instant query.
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let r: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await
            .expect("query prometheus")
            .json()
            .await
            .expect("prometheus answers JSON");
        assert_eq!(r["status"], "success", "{promql}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        keep_if_failed(&self.dir, "Prometheus's data and log");
    }
}

/// A running stack; the temp dir and server go away on drop (kept when the test fails).
#[derive(Debug)]
pub struct TestStack {
    pub server: Option<Server>,
    pub base: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub sim: SimFleet,
    pub fleet: Arc<Fleet>,
    pub database_url: String,
    dir: PathBuf,
    power_command: Option<String>,
    hosts_per_cluster: usize,
    configure: Option<fn(&mut Config)>,
    ldap: Option<vdc_server::app::config::LdapConfig>,
}

/// Installs the process's one TLS provider (as every vdc binary does) and a test-friendly log
/// subscriber (output is shown for failing tests only). Safe to call many times.
pub fn init_logs() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

impl TestStack {
    /// A stack on `store` with the default options.
    pub async fn start(store: Store) -> TestStack {
        TestStack::start_with(StackOptions::new(store)).await
    }

    /// A stack with these options; the inventory is synced once before it returns.
    pub async fn start_with(o: StackOptions) -> TestStack {
        init_logs();
        let dir = std::env::temp_dir().join(format!("vdc-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let database_url = fresh_database(o.store, &dir).await;
        let sim = SimFleet::generate(o.hosts, o.vms, o.seed, SimClock::automatic());
        sim.set_shutdown_delay(Duration::from_millis(200));
        let fleet = Arc::new(
            Fleet::simulated(sim.clone())
                .with_connector(Arc::new(vdc_driver_libvirt::LibvirtConnector)),
        );
        let mut stack = TestStack {
            server: None,
            base: String::new(),
            http: reqwest::Client::new(),
            admin_token: String::new(),
            sim,
            fleet,
            database_url,
            dir,
            power_command: o.power_command,
            hosts_per_cluster: o.hosts_per_cluster,
            configure: o.configure,
            ldap: o.ldap,
        };
        stack.boot(o.hosts).await;
        stack.sync().await;
        stack
    }

    async fn boot(&mut self, hosts: usize) {
        let mut config = Config::new(self.database_url.clone());
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.sync_interval = None;
        config.metrics.interval = None;
        config.ha.interval = None;
        config.admin_password = Some(vdc_server::app::config::Secret::new(ADMIN_PASSWORD));
        config.power_command = self.power_command.clone();
        if let Some(f) = self.configure {
            f(&mut config);
        }
        config.ldap = self.ldap.clone();
        config.sim = Some(SimConfig {
            hosts,
            hosts_per_cluster: self.hosts_per_cluster,
            ..SimConfig::default()
        });
        let server = vdc_server::start_with_fleet(config, self.fleet.clone())
            .await
            .expect("server starts");
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
        self.admin_token = self.login("admin", ADMIN_PASSWORD).await;
    }

    /// Stops the server and starts a new one on the same store and fleet (a restart).
    pub async fn restart(&mut self) {
        let hosts = self.sim.len();
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        self.boot(hosts).await;
    }

    /// The running server's application state.
    pub fn app(&self) -> &vdc_server::App {
        &self.server.as_ref().expect("server running").app
    }

    /// Runs one full inventory sync.
    pub async fn sync(&self) -> vdc_server::inventory::sync::SyncReport {
        vdc_server::inventory::sync::sync_all(self.app())
            .await
            .expect("sync succeeds")
    }

    /// Logs in, returning the token.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": user, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login as {user}: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// Sends a request; returns the status and the JSON body (`null` when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(
            method.parse().expect("method"),
            format!("{}{}", self.base, path),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body read");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// Sends a raw body with a content type (for malformed-input tests).
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{}", self.base, path),
            )
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// GET as admin, asserting 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (s, b) = self.call("GET", path, Some(&self.admin_token), None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {b}");
        b
    }

    /// `GET path` as admin, a text body (CSV) that must come with 200 and `content_type`.
    pub async fn get_text(&self, path: &str, content_type: &str) -> String {
        let resp = self
            .http
            .get(format!("{}{}", self.base, path))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.expect("body read");
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        assert!(
            ct.starts_with(content_type),
            "GET {path}: content type {ct}"
        );
        text
    }

    /// Waits for a job to end and returns it.
    pub async fn wait_job(&self, token: &str, job_id: &str) -> Value {
        let path = format!("/api/v1/jobs/{job_id}");
        wait_for_condition(
            Duration::from_millis(50),
            Duration::from_secs(60),
            || async {
                let (s, j) = self.call("GET", &path, Some(token), None).await;
                assert_eq!(s, StatusCode::OK, "{j}");
                matches!(j["state"].as_str(), Some("succeeded" | "failed")).then_some(j)
            },
        )
        .await
    }

    /// A digest of the store (all tables but the audit log).
    pub async fn fingerprint(&self) -> String {
        self.app().db.fingerprint().await.expect("fingerprint")
    }

    /// Number of audit records.
    pub async fn audit_count(&self) -> usize {
        let mut n = 0;
        let mut token: Option<String> = None;
        loop {
            let path = match &token {
                Some(t) => format!("/api/v1/audit?limit=1000&page_token={t}"),
                None => "/api/v1/audit?limit=1000".into(),
            };
            let page = self.get_ok(&path).await;
            n += page["items"].as_array().map_or(0, Vec::len);
            match page["next_page_token"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => return n,
            }
        }
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        keep_if_failed(&self.dir, "the stack's store");
    }
}

/// Removes a test's directory, unless the test is failing: then it stays for a post-mortem and
/// its path is printed (the test's logs are printed by the test runner with the failure).
fn keep_if_failed(dir: &std::path::Path, what: &str) {
    if std::thread::panicking() {
        eprintln!("test failed: {what} is kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Polls `check` every `poll` until it returns `Some`, failing after `timeout`.
pub async fn wait_for_condition<T, F, Fut>(poll: Duration, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(poll).await;
    }
}
