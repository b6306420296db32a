//! The `vdc` binary end to end: `vdc serve` on a temp data dir (embedded SQLite, simulated
//! fleet) driven by the client commands, then the server's debug-level log searched for every
//! secret that passed through it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use vdc_test_utils::wait_for_condition;

#[path = "cli/browser.rs"]
mod browser;

const VDC: &str = env!("CARGO_BIN_EXE_vdc");

struct Served {
    child: Child,
    url: String,
    stdout: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vdc serve` and reads its stdout up to the login hint.
fn serve(data: &Path, log: &Path) -> Served {
    serve_with(data, log, &[], &[])
}

/// [`serve`] with more arguments and environment.
fn serve_with(data: &Path, log: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut child = Command::new(VDC)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--sim-hosts",
            "3",
            "--sim-vms",
            "10",
            "--sync-interval",
            "1s",
        ])
        .args(args)
        .envs(env.iter().copied())
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "debug")
        .env_remove("VDC_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("vdc serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let line = lines.next().expect("vdc serve printed its banner").unwrap();
        let done = line.starts_with("first start") || line.starts_with("log in");
        stdout.push(line);
        if done {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let url = stdout[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("address in banner")
        .to_string();
    Served { child, url, stdout }
}

fn vdc(cfg: &Path, url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(VDC);
    c.args(args)
        .env("VDC_CONFIG_DIR", cfg)
        .env("VDC_SERVER", url)
        .env_remove("VDC_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("vdc runs")
}

fn ok_json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn one_line_error(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one-line error expected: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vdc-cli-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn serve_login_operate_and_no_secret_in_the_logs() {
    let root = temp("e2e");
    let (data, cfg, log) = (root.join("data"), root.join("cfg"), root.join("server.log"));
    let server = serve(&data, &log);
    let banner = server.stdout.join("\n");
    assert!(banner.contains("store: sqlite"), "{banner}");
    assert!(banner.contains("simulated fleet: 3 hosts"), "{banner}");
    assert!(data.join("vdc.sqlite").exists());
    let password = banner
        .lines()
        .find_map(|l| l.strip_prefix("first start: user 'admin', password "))
        .and_then(|r| r.split_whitespace().next())
        .expect("a generated admin password is printed once")
        .to_string();
    assert!(password.len() >= 32);

    let err = one_line_error(&vdc(&cfg, &server.url, &["vm", "list"], &[]));
    assert!(err.contains("vdc login"), "{err}");
    let err = one_line_error(&vdc(
        &cfg,
        &server.url,
        &["login", "--username", "admin"],
        &[("VDC_PASSWORD", "wrong-password")],
    ));
    assert!(err.contains("invalid username or password"), "{err}");
    let out = vdc(
        &cfg,
        &server.url,
        &["login", "--username", "admin"],
        &[("VDC_PASSWORD", &password)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(cfg.join("credentials.json")).unwrap())
            .unwrap();
    let token = creds["token"].as_str().unwrap().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cfg.join("credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "credentials must be private");
    }

    let hosts = ok_json(vdc(&cfg, &server.url, &["host", "list", "-o", "json"], &[]));
    assert_eq!(hosts.as_array().unwrap().len(), 3);
    let vms = ok_json(vdc(
        &cfg,
        &server.url,
        &["vm", "list", "--all", "--limit", "3", "-o", "json"],
        &[],
    ));
    assert_eq!(vms.as_array().unwrap().len(), 10);
    let table = vdc(&cfg, &server.url, &["vm", "list"], &[]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("vm-000001"));

    let vm = ok_json(vdc(
        &cfg,
        &server.url,
        &[
            "vm",
            "create",
            "--name",
            "cli-vm",
            "--vcpus",
            "1",
            "--memory-mib",
            "256",
            "--disk-gib",
            "8",
            "--start",
            "-o",
            "json",
        ],
        &[],
    ));
    assert_eq!(vm["power_state"], "running");
    assert_eq!(vm["disks"][0]["size_gib"], 8);
    let err = one_line_error(&vdc(&cfg, &server.url, &["vm", "start", "cli-vm"], &[]));
    assert!(err.contains("cannot go from running to running"), "{err}");
    let err = one_line_error(&vdc(&cfg, &server.url, &["vm", "show", "no-such-vm"], &[]));
    assert!(err.contains("no VM named no-such-vm"), "{err}");
    let err = one_line_error(&vdc(
        &cfg,
        &server.url,
        &["vm", "create", "--name", "bad name"],
        &[],
    ));
    assert!(err.contains("invalid name"), "{err}");
    let vm = ok_json(vdc(
        &cfg,
        &server.url,
        &["vm", "shutdown", "cli-vm", "-o", "json"],
        &[],
    ));
    assert_eq!(vm["power_state"], "shutoff");
    let vm = ok_json(vdc(
        &cfg,
        &server.url,
        &[
            "vm",
            "update",
            "cli-vm",
            "--purpose",
            "demo",
            "--tag",
            "a",
            "--tag",
            "b",
            "-o",
            "json",
        ],
        &[],
    ));
    assert_eq!(vm["tags"], serde_json::json!(["a", "b"]));
    let job = ok_json(vdc(
        &cfg,
        &server.url,
        &["vm", "delete", "cli-vm", "-o", "json"],
        &[],
    ));
    assert_eq!(job["state"], "succeeded");
    let jobs = ok_json(vdc(&cfg, &server.url, &["job", "list", "-o", "json"], &[]));
    assert!(jobs.as_array().unwrap().len() >= 3);
    let sync = ok_json(vdc(&cfg, &server.url, &["sync", "-o", "json"], &[]));
    assert_eq!(sync["hosts"], 3);
    // Every background activity of `vdc serve` with its last run; the inventory sync (every
    // second here) has run.
    let status = ok_json(vdc(&cfg, &server.url, &["status", "-o", "json"], &[]));
    let tasks = status.as_array().unwrap();
    assert_eq!(tasks.len(), registered_activities(), "{status}");
    let sync = tasks
        .iter()
        .find(|t| t["name"] == "inventory-sync")
        .unwrap();
    assert_eq!(sync["schedule"], "every 1s", "{sync}");
    assert!(sync["runs"].as_u64().unwrap() >= 1, "{sync}");
    let table = vdc(&cfg, &server.url, &["status"], &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{text}");
    for word in [
        "ACTIVITY",
        "inventory-sync",
        "every 1s",
        "metrics-collection",
        "ha",
    ] {
        assert!(text.contains(word), "{word}: {text}");
    }
    drop(server);

    // Restarting on the same data dir keeps the admin and prints no password again.
    let again = serve(&data, &root.join("server2.log"));
    let banner = again.stdout.join("\n");
    assert!(
        !banner.contains(&password) && banner.contains("log in:"),
        "{banner}"
    );
    let out = vdc(
        &cfg,
        &again.url,
        &["login", "--username", "admin"],
        &[("VDC_PASSWORD", &password)],
    );
    assert!(out.status.success());
    drop(again);

    let logs = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(root.join("server2.log")).unwrap();
    assert!(
        logs.contains("vdc serving") && logs.contains("inventory sync done"),
        "the log is too empty to prove anything"
    );
    for secret in [password.as_str(), token.as_str(), "wrong-password"] {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the server log"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Directory users through `vdc serve --ldap-…` and `vdc login`, against a real slapd over
/// StartTLS; the directory's passwords stay out of the server's debug log; a misconfigured
/// directory stops the start with one clear line.
#[test]
fn directory_login_through_vdc_serve() {
    let d = vdc_test_utils::LdapServer::start();
    let root = temp("ldap");
    let (data, cfg, log) = (root.join("data"), root.join("cfg"), root.join("server.log"));
    let ca = d.ca.to_string_lossy().to_string();
    let server = serve_with(
        &data,
        &log,
        &[
            "--ldap-url",
            &d.url,
            "--ldap-starttls",
            "--ldap-ca",
            &ca,
            "--ldap-base-dn",
            &d.base_dn,
            "--ldap-bind-dn",
            &d.bind_dn,
            "--ldap-group",
            "vdc-admins=admin",
        ],
        &[("VDC_LDAP_BIND_PASSWORD", &d.bind_password)],
    );
    let out = vdc(
        &cfg,
        &server.url,
        &["login", "--username", "alice"],
        &[("VDC_PASSWORD", "alicepw")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users = vdc(&cfg, &server.url, &["user", "list"], &[]);
    let table = String::from_utf8_lossy(&users.stdout);
    assert!(
        table.contains("alice") && table.contains("directory group vdc-admins"),
        "{table}"
    );
    // bob's group maps to nothing here: a clear refusal, no session.
    let err = one_line_error(&vdc(
        &cfg,
        &server.url,
        &["login", "--username", "bob"],
        &[("VDC_PASSWORD", "bobpw")],
    ));
    assert!(err.contains("none of the directory groups"), "{err}");
    drop(server);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("vdc serving"),
        "the log is too empty to prove anything"
    );
    for secret in ["alicepw", "bobpw", d.bind_password.as_str()] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the server log"
        );
    }

    let out = Command::new(VDC)
        .args(["serve", "--listen", "127.0.0.1:0", "--ldap-url", &d.url])
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--ldap-base-dn",
            &d.base_dn,
            "--ldap-ca",
            "/nonexistent/ca.pem",
        ])
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains("LDAP directory is misconfigured") && err.contains("CA file"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn openapi_command_prints_the_checked_in_document() {
    let out = Command::new(VDC).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let checked_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/vdc.json"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), checked_in);
}

/// `vdc serve --help` shows which environment variables it reads, never the values of those
/// that may hold secrets (a token in the notify URL, a password in a power or fence command).
#[test]
fn serve_help_hides_secret_environment_values() {
    let secrets = [
        ("VDC_DATABASE_URL", "postgres://vdc:SECRET-db@localhost/vdc"),
        (
            "VDC_NOTIFY_URL",
            "https://hooks.example/?token=SECRET-notify",
        ),
        ("VDC_POWER_COMMAND", "ipmitool -P SECRET-power"),
        ("VDC_HA_FENCE_COMMAND", "fence_ipmilan -p SECRET-fence"),
        ("VDC_LDAP_BIND_PASSWORD", "SECRET-ldap"),
    ];
    let out = Command::new(VDC)
        .args(["serve", "--help"])
        .envs(secrets)
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (name, _) in secrets {
        assert!(help.contains(name), "{name} is not named in the help");
    }
    assert!(
        !help.contains("SECRET"),
        "a secret value in `vdc serve --help`:\n{help}"
    );
}

/// How many background activities the server registers (each is listed by `vdc status` and
/// the web UI's Background page).
fn registered_activities() -> usize {
    vdc_server::background::activities(&vdc_server::Config::new("sqlite://unused")).len()
}

/// `libvirt-domains/` of the repository's test data. Missing data fails the test; it never skips it.
fn domain_corpus() -> PathBuf {
    let dir = vdc_test_utils::test_data().join("libvirt-domains");
    assert!(
        dir.join("INDEX.tsv").is_file(),
        "fixture directory {} is missing: this test needs the repository's test data",
        dir.display()
    );
    dir
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn inspect_libvirt_xml_corpus_as_json_lines() {
    let dir = domain_corpus();
    let out = Command::new(VDC)
        .args(["inspect", "libvirt-xml"])
        .arg(&dir)
        .args(["-o", "json"])
        .output()
        .unwrap();
    // The corpus holds two fragments without <name>: every document is still reported, and
    // the exit status says some failed.
    assert_eq!(out.status.code(), Some(1));
    let err = one_line_error(&out);
    assert_eq!(
        err,
        "error: 2 of 135 file(s) could not be read as libvirt domain XML"
    );

    let lines = json_lines(&out);
    assert_eq!(lines.len(), 135, "one line per document");
    let files: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    let mut sorted = files.clone();
    sorted.sort_unstable();
    assert_eq!(files, sorted, "sorted by path");

    let (mut ok, mut failed) = (0, Vec::new());
    for l in &lines {
        if l.get("error").is_some() {
            assert_eq!(keys(l), ["error", "file"]);
            failed.push(l);
            continue;
        }
        ok += 1;
        assert_eq!(
            keys(l),
            [
                "arch",
                "disks",
                "file",
                "memory_mib",
                "name",
                "nics",
                "type",
                "vcpus"
            ]
        );
        for d in l["disks"].as_array().unwrap() {
            assert_eq!(keys(d), ["device", "format", "source", "target"]);
        }
        for n in l["nics"].as_array().unwrap() {
            assert_eq!(keys(n), ["mac", "model", "source"]);
        }
    }
    assert_eq!(ok, 133);
    assert_eq!(failed.len(), 2);
    for f in failed {
        assert!(
            f["file"]
                .as_str()
                .unwrap()
                .ends_with("replace-child-build.xml")
                || f["file"]
                    .as_str()
                    .unwrap()
                    .ends_with("replace-child-parse.xml"),
            "{f}"
        );
        assert_eq!(f["error"], "domain XML lacks <name>");
    }

    let line = |name: &str| {
        lines
            .iter()
            .find(|l| l["file"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no line for {name}"))
    };
    let centos = line("/virt-install-kvm-centos7.2.xml");
    assert_eq!(
        *centos,
        serde_json::json!({
            "file": dir.join("virt-manager/virt-install-kvm-centos7.2.xml").display().to_string(),
            "name": "centos7.0",
            "type": "kvm",
            "arch": "x86_64",
            "vcpus": 2,
            "memory_mib": 64,
            "disks": [{"device": "disk", "target": "vda", "format": "qcow2",
                       "source": "/pool-dir/testvol1.img"}],
            "nics": [{"mac": "00:11:22:33:44:55", "model": "virtio", "source": "testsuitebr0"}],
        })
    );
    let many = line("/testdriver.3.xml");
    assert_eq!(many["name"], "test-many-devices");
    assert_eq!(many["memory_mib"], 428);
    assert_eq!(many["disks"].as_array().unwrap().len(), 19);
    assert_eq!(many["nics"][8]["source"], "/tmp/vhost1.sock");
    let crashed = line("/testdriver.10.xml");
    assert_eq!(crashed["arch"], Value::Null);
    assert_eq!(crashed["vcpus"], 1);
}

#[test]
fn inspect_libvirt_xml_reports_bad_files_and_prints_a_table() {
    let root = temp("inspect");
    let good = root.join("good.xml");
    std::fs::write(
        &good,
        "<domain type='kvm'><name>tiny</name><memory unit='MiB'>512</memory><vcpu>2</vcpu>\
         <os><type arch='aarch64'>hvm</type></os><devices><disk type='file' device='disk'>\
         <driver name='qemu' type='raw'/><source file='/img/tiny.raw'/><target dev='vda'/>\
         </disk><interface type='network'><source network='default'/></interface></devices>\
         </domain>",
    )
    .unwrap();
    let bad = root.join("bad.xml");
    std::fs::write(&bad, "<domain type='kvm'>\n  <name>broken</name>\n").unwrap();
    let missing = root.join("missing.xml");

    let out = Command::new(VDC)
        .args(["inspect", "libvirt-xml", "-o", "json"])
        .args([&good, &bad, &missing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = one_line_error(&out);
    assert!(err.contains("2 of 3"), "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["name"], "tiny");
    assert_eq!(lines[0]["memory_mib"], 512);
    assert_eq!(lines[0]["arch"], "aarch64");
    assert_eq!(lines[0]["disks"][0]["source"], "/img/tiny.raw");
    assert_eq!(
        lines[0]["nics"][0],
        serde_json::json!({"mac": null, "model": null, "source": "default"})
    );
    assert_eq!(keys(&lines[1]), ["error", "file"]);
    assert_eq!(lines[1]["file"], bad.display().to_string());
    let msg = lines[1]["error"].as_str().unwrap();
    assert!(
        msg.starts_with("malformed XML: ") && msg.contains("3:1"),
        "{msg}"
    );
    assert_eq!(keys(&lines[2]), ["error", "file"]);
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot read file"),
        "{}",
        lines[2]
    );

    // All good: exit 0, and a table for people.
    let out = Command::new(VDC)
        .args(["inspect", "libvirt-xml"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    for want in [
        "NAME",
        "tiny",
        "kvm",
        "aarch64",
        "512 MiB",
        "vda",
        "network:default",
    ] {
        assert!(table.contains(want), "{want} missing from:\n{table}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Logs in to a served `vdc` with the admin password from its banner.
fn login(server: &Served, cfg: &Path) {
    let password = server
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("first start: user 'admin', password "))
        .and_then(|r| r.split_whitespace().next())
        .expect("a generated admin password is printed once");
    let out = vdc(
        cfg,
        &server.url,
        &["login", "--username", "admin"],
        &[("VDC_PASSWORD", password)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Hosts added by URI, rogue VMs, snapshots, migration and stats from the command line
/// (libvirt's in-process test driver stands in for a host here; the API tests drive the
/// real QEMU lab).
#[cfg(feature = "libvirt")]
#[test]
fn hosts_rogue_vms_snapshots_and_migration_from_the_cli() {
    let root = temp("ops");
    let (data, cfg) = (root.join("data"), root.join("cfg"));
    let server = serve(&data, &root.join("server.log"));
    login(&server, &cfg);
    let run = |args: &[&str]| ok_json(vdc(&cfg, &server.url, args, &[]));

    let err = one_line_error(&vdc(
        &cfg,
        &server.url,
        &["host", "add", "--uri", "http://x"],
        &[],
    ));
    assert!(err.contains("not a libvirt URI"), "{err}");
    let added = run(&[
        "host",
        "add",
        "--uri",
        "test:///default",
        "--cluster",
        "lab",
        "--name",
        "testhost",
        "-o",
        "json",
    ]);
    assert_eq!(added["host"]["name"], "testhost");
    assert_eq!(added["sync"]["unmanaged_found"], 1, "{added}");
    let table = vdc(
        &cfg,
        &server.url,
        &["vm", "list", "--management", "unmanaged"],
        &[],
    );
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("test") && table.contains("unmanaged"),
        "{table}"
    );

    let dept = run(&[
        "vm",
        "list",
        "--name-prefix",
        "vm-",
        "--limit",
        "1",
        "-o",
        "json",
    ])[0]["department_id"]
        .as_str()
        .unwrap()
        .to_string();
    let adopted = run(&[
        "vm",
        "adopt",
        "test",
        "--owner",
        "carol",
        "--department",
        &dept,
        "-o",
        "json",
    ]);
    assert_eq!(adopted["management"], "managed");
    assert_eq!(adopted["owner"], "carol");
    let err = one_line_error(&vdc(&cfg, &server.url, &["vm", "quarantine", "test"], &[]));
    assert!(err.contains("only unmanaged VMs are quarantined"), "{err}");

    let vm = run(&[
        "vm",
        "create",
        "--name",
        "mover",
        "--memory-mib",
        "256",
        "--disk-gib",
        "4",
        "--host",
        &host_id(&run, "sim-host-0001"),
        "--start",
        "-o",
        "json",
    ]);
    assert_eq!(vm["power_state"], "running");
    run(&["vm", "snapshot", "create", "mover", "s1", "-o", "json"]);
    let snaps = run(&["vm", "snapshot", "list", "mover", "-o", "json"]);
    assert_eq!(snaps[0]["name"], "s1", "{snaps}");
    let moved = run(&[
        "vm",
        "migrate",
        "mover",
        "--to",
        "sim-host-0002",
        "-o",
        "json",
    ]);
    assert_eq!(moved["host_id"], host_id(&run, "sim-host-0002").as_str());
    let stats = run(&["vm", "stats", "mover", "-o", "json"]);
    assert_eq!(stats["power_state"], "running");
    let hs = run(&["host", "stats", "sim-host-0002", "-o", "json"]);
    assert!(hs["running_vms"].as_u64().unwrap() >= 1, "{hs}");
    let rated = vdc(
        &cfg,
        &server.url,
        &["placement", "rate", "--vcpus", "1", "--memory-mib", "512"],
        &[],
    );
    let table = String::from_utf8_lossy(&rated.stdout);
    assert!(
        rated.status.success() && table.contains("★") && table.contains("STARS"),
        "{table}"
    );
    let by_vm = run(&["placement", "rate", "--vm", "mover", "-o", "json"]);
    assert!(by_vm["hosts"].as_array().unwrap().len() >= 3, "{by_vm}");
    let explained = vdc(
        &cfg,
        &server.url,
        &[
            "vm",
            "create",
            "--name",
            "explained",
            "--memory-mib",
            "256",
            "--explain",
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(
        explained.status.success() && text.contains("★") && text.contains("vm.create explained"),
        "{text}"
    );
    let shown = vdc(&cfg, &server.url, &["placement", "show", "explained"], &[]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success() && text.contains("placed on ") && text.contains("★"),
        "{text}"
    );
    let clusters = run(&["cluster", "list", "-o", "json"]);
    let cluster = clusters[0]["name"].as_str().unwrap().to_string();
    let set = run(&[
        "cluster",
        "set",
        &cluster,
        "--vcpu-ratio",
        "8",
        "-o",
        "json",
    ]);
    assert_eq!(set["vcpu_ratio"], 8.0, "{set}");
    let licensed = run(&[
        "host",
        "set",
        "sim-host-0003",
        "--licensed",
        "oracle-ee",
        "-o",
        "json",
    ]);
    assert_eq!(licensed["licensed_software"][0], "oracle-ee", "{licensed}");
    let rated = run(&[
        "placement",
        "rate",
        "--vcpus",
        "1",
        "--memory-mib",
        "256",
        "--licensed",
        "oracle-ee",
        "-o",
        "json",
    ]);
    assert_eq!(
        rated["chosen"],
        host_id(&run, "sim-host-0003").as_str(),
        "{rated}"
    );
    run(&[
        "vm",
        "create",
        "--name",
        "web",
        "--count",
        "2",
        "--anti-affinity-group",
        "web",
        "--memory-mib",
        "256",
        "-o",
        "json",
    ]);
    let web = run(&["vm", "list", "--name-prefix", "web-", "-o", "json"]);
    let web = web.as_array().unwrap();
    assert_eq!(web.len(), 2, "{web:?}");
    assert_ne!(web[0]["host_id"], web[1]["host_id"], "{web:?}");
    let forecast = run(&["plan", "forecast", "-o", "json"]);
    assert!(forecast.is_array(), "{forecast}");
    let packed = run(&[
        "plan",
        "consolidate",
        "--add",
        "2",
        "--vcpus",
        "1",
        "--memory-mib",
        "256",
        "-o",
        "json",
    ]);
    assert!(packed[0]["hosts_after"].is_u64(), "{packed}");
    let plans = run(&["plan", "balance", "-o", "json"]);
    assert!(plans.is_array(), "{plans}");
    let set = run(&[
        "cluster",
        "set",
        &cluster,
        "--balance-mode",
        "off",
        "-o",
        "json",
    ]);
    assert_eq!(set["balance_mode"], "off", "{set}");
    let evac = run(&["host", "evacuate", "sim-host-0003", "-o", "json"]);
    assert!(evac["vms"].is_array(), "{evac}");
    let host = run(&[
        "host",
        "show",
        &host_id(&run, "sim-host-0003"),
        "-o",
        "json",
    ]);
    assert_eq!(host["maintenance"], true, "{host}");
    // A host that runs VMs does not go to standby.
    let err = one_line_error(&vdc(
        &cfg,
        &server.url,
        &["host", "standby", "testhost"],
        &[],
    ));
    assert!(
        err.contains("runs 1 VMs (test); evacuate it first"),
        "{err}"
    );

    // Departments, custom roles, users and their roles at a scope.
    let d = run(&[
        "department",
        "create",
        "labs",
        "--cost-centre",
        "CC-42",
        "-o",
        "json",
    ]);
    assert_eq!(d[0]["cost_centre"], "CC-42", "{d}");
    let r = run(&[
        "role",
        "create",
        "snapshotter",
        "--permission",
        "inventory.read",
        "--permission",
        "vm.operate",
        "-o",
        "json",
    ]);
    assert_eq!(
        r[0]["permissions"],
        serde_json::json!(["inventory.read", "vm.operate"])
    );
    let u = ok_json(vdc(
        &cfg,
        &server.url,
        &[
            "user",
            "create",
            "lena",
            "--role",
            "snapshotter",
            "--department",
            "labs",
            "-o",
            "json",
        ],
        &[("VDC_NEW_PASSWORD", "password-lena")],
    ));
    assert_eq!(u[0]["roles"][0]["role"], "snapshotter", "{u}");
    assert_eq!(u[0]["roles"][0]["department_id"], d[0]["id"], "{u}");
    let u = run(&[
        "user",
        "grant",
        "lena",
        "--role",
        "viewer",
        "--cluster",
        &cluster,
        "-o",
        "json",
    ]);
    let roles = u[0]["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 2, "{u}");
    let binding = roles[1]["id"].as_str().unwrap().to_string();
    let u = run(&["user", "revoke", "lena", &binding, "-o", "json"]);
    assert_eq!(u[0]["roles"].as_array().unwrap().len(), 1, "{u}");
    let err = one_line_error(&vdc(
        &cfg,
        &server.url,
        &["user", "grant", "lena", "--role", "pilot"],
        &[],
    ));
    assert!(err.contains("no role pilot"), "{err}");
    let csv = vdc(
        &cfg,
        &server.url,
        &["audit", "export", "--action", "user.", "--result", "ok"],
        &[],
    );
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert_eq!(
        csv.lines().count(),
        4,
        "header, create, grant, revoke: {csv}"
    );
    assert!(csv.lines().nth(1).unwrap().contains("user.revoke"), "{csv}");
    run(&[
        "prices",
        "set",
        "--vcpu",
        "10",
        "--memory-gib",
        "5",
        "--licence",
        "sql-server=100",
        "-o",
        "json",
    ]);
    let q = run(&[
        "quota",
        "set",
        "labs",
        "--money",
        "100",
        "--grace-percent",
        "10",
        "-o",
        "json",
    ]);
    assert_eq!(
        (q["money_month"].as_f64(), q["currency"].as_str()),
        (Some(100.0), Some("EUR")),
        "{q}"
    );
    let table = vdc(&cfg, &server.url, &["quota", "show", "labs"], &[]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("EUR/month") && table.contains("100.00"),
        "{table}"
    );
    let r = run(&[
        "request",
        "create",
        "--purpose",
        "a test box",
        "--name",
        "cli-req",
        "--vcpus",
        "8",
        "--department",
        "labs",
        "-o",
        "json",
    ]);
    assert_eq!(r[0]["state"], "pending", "{r}");
    let id = r[0]["id"].as_str().unwrap().to_string();
    let err = one_line_error(&vdc(
        &cfg,
        &server.url,
        &["request", "reject", &id, "--reason", "mine"],
        &[],
    ));
    assert!(err.contains("own requests"), "{err}");
    let t = vdc(
        &cfg,
        &server.url,
        &["token", "create", "ro", "--permission", "inventory.read"],
        &[],
    );
    let secret = String::from_utf8_lossy(&t.stdout).trim().to_string();
    assert_eq!(secret.len(), 43, "the token alone on stdout: {secret}");
    let listed = run(&["token", "list", "-o", "json"]);
    assert_eq!(listed[0]["name"], "ro", "{listed}");
    let err = one_line_error(&vdc(
        &cfg,
        &server.url,
        &["department", "create", "z", "--cost-centre", "z"],
        &[("VDC_TOKEN", &secret)],
    ));
    assert!(
        err.contains("requires permission department.manage"),
        "{err}"
    );
    run(&[
        "token",
        "revoke",
        listed[0]["id"].as_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(run(&["token", "list", "-o", "json"]), serde_json::json!([]));
    let table = vdc(&cfg, &server.url, &["role", "list"], &[]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("approver"));

    let out = vdc(&cfg, &server.url, &["host", "remove", "testhost"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hosts = run(&["host", "list", "-o", "json"]);
    assert_eq!(hosts.as_array().unwrap().len(), 3);
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
}

/// The id of the host with this name.
#[cfg(feature = "libvirt")]
fn host_id(run: &dyn Fn(&[&str]) -> Value, name: &str) -> String {
    run(&["host", "list", "-o", "json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The repository's test data (traces, files, and the reference figures in `bench/`).
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");

/// Runs `vdc bench …` on the repository's test data and returns the JSON object of its last line.
fn bench_json(args: &[&str]) -> Value {
    let out = Command::new(VDC)
        .arg("bench")
        .args(args)
        .arg("--json")
        .env("VDC_BENCH_DATA", TESTDATA)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// The capacity forecast on the Bitbrains VMs (fit July, predict August–September): its error
/// as a share of capacity is printed, and stays within 5 % of the flat forecast's and below
/// least squares' (a regression guard on real data, not a timing).
#[test]
fn bench_forecast_reports_its_error_against_naive_forecasts() {
    let last = bench_json(&["forecast"]);
    assert_eq!(last["series"], 15, "{last}");
    let vdc = last["mae_share_of_capacity"].as_f64().unwrap();
    let flat = last["baseline_flat_week_mae_share_of_capacity"]
        .as_f64()
        .unwrap();
    let ols = last["baseline_least_squares_mae_share_of_capacity"]
        .as_f64()
        .unwrap();
    assert!(vdc <= flat * 1.05 && vdc < ols, "{last}");
}

/// The CloudSim model on its ten PlanetLab days: the four ported CloudSim policies land inside
/// the reference's gate on every day, and vdc's policy runs beside them with its ratios.
#[test]
fn bench_consolidation_ports_pass_the_gate_and_vdc_is_compared() {
    let reference = format!("{TESTDATA}/bench");
    let last = bench_json(&["consolidation", "--reference", &reference]);
    assert_eq!(last["days"].as_array().unwrap().len(), 10, "{last}");
    for p in ["thr-mmt-0.8", "iqr-mmt-1.5", "mad-mmt-2.5", "lr-mmt-1.2"] {
        assert_eq!(last["policies"][p]["days_inside_gate"], 10, "{p}: {last}");
    }
    for r in [
        "ratio_energy_vs_lr",
        "ratio_migrations_vs_lr",
        "ratio_slav_vs_iqr",
    ] {
        assert!(last[r].as_f64().unwrap() > 0.0, "{r}: {last}");
    }
}

/// The balancer on a week of real VM load: it removes most of the CPU the unbalanced cluster
/// cannot serve, with fewer migrations than a naive threshold balancer (a guard on real data).
#[test]
fn bench_balance_relieves_contention_with_few_migrations() {
    let last = bench_json(&["balance"]);
    let p = &last["policies"];
    let unserved = |k: &str| p[k]["unserved_share"].as_f64().unwrap();
    let migrations = |k: &str| p[k]["migrations"].as_u64().unwrap();
    assert!(unserved("vdc") < 0.25 * unserved("off"), "{last}");
    assert!(migrations("vdc") < migrations("naive"), "{last}");
    assert_eq!(migrations("off"), 0);
}

/// The metrics bench on a small fleet: every figure is printed, the 7-day chart has its
/// 5-minute points, and the baseline ran in the same process (no timing is asserted).
#[test]
fn bench_metrics_prints_ingest_and_chart_figures_beside_the_baseline() {
    let last = bench_json(&["metrics", "--vms", "2", "--queries", "5"]);
    assert_eq!(last["chart_points"], 7 * 288, "{last}");
    assert_eq!(last["values"], 2 * 7 * 4320 * 12, "{last}");
    for k in [
        "ingest_samples_per_s",
        "query_p99_ms",
        "baseline_ingest_samples_per_s",
        "baseline_query_p99_ms",
        "bytes_per_sample",
    ] {
        assert!(last[k].as_f64().is_some_and(|v| v > 0.0), "{k}: {last}");
    }
}

/// The anomaly bench on the Bitbrains traces: both detectors scored on the same injected
/// anomalies, each figure a share or a count that follows from the others.
#[test]
fn bench_anomalies_scores_profiles_and_fixed_thresholds_on_the_same_injections() {
    let last = bench_json(&["anomalies"]);
    let injected = last["injected"].as_u64().unwrap();
    // 8 quarter VMs × 6 and every week VM with enough data × 3.
    assert!(injected >= 8 * 6 + 200 * 3, "{last}");
    for k in [
        "precision",
        "recall",
        "baseline_precision",
        "baseline_recall",
    ] {
        let v = last[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{k}: {last}");
    }
    // The profiles find injected anomalies: most of them, within a few samples.
    assert!(last["recall"].as_f64().unwrap() > 0.5, "{last}");
    let delay = last["detection_delay_samples"].as_f64().unwrap();
    assert!((0.0..20.0).contains(&delay), "{last}");
    // The baseline ran on the same injections.
    assert!(last["baseline_episodes"].as_u64().unwrap() > 0, "{last}");
}

/// The web UI in headless Chromium against `vdc serve` (simulated fleet, metrics every
/// second): log in, the dashboard's totals, a VM page whose CPU chart is drawn on its canvas,
/// a power action whose new state the page shows, the range buttons and skip link by
/// keyboard, no sideways scrolling on a phone-sized screen; screenshots kept as artefacts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_in_a_real_browser() {
    let root = temp("browser");
    let server = serve_with(
        &root.join("data"),
        &root.join("server.log"),
        &["--metrics-interval", "1s"],
        &[],
    );
    let password = server
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("first start: user 'admin', password "))
        .and_then(|l| l.split_whitespace().next())
        .expect("generated admin password in the banner")
        .to_string();
    let url = server.url.clone();
    let b = browser::Browser::start().await;

    // Any page sends a stranger to the login form; a wrong password says so.
    b.goto(&format!("{url}/vms")).await;
    b.wait_for("the login page", "return location.pathname === '/login'")
        .await;
    b.type_into("#username", "admin").await;
    b.type_into("#password", "not-the-password").await;
    b.click("form.login button").await;
    let error = b
        .wait_for(
            "the login error",
            "const e = document.querySelector('.error'); return e && e.textContent",
        )
        .await;
    assert!(error.as_str().unwrap().contains("password"), "{error}");
    b.type_into("#password", &password).await;
    b.click("form.login button").await;
    b.wait_for(
        "the dashboard",
        "return document.querySelector('h1')?.textContent === 'Dashboard'",
    )
    .await;
    let cards = b
        .js("return [...document.querySelectorAll('.cards .big')].map(e => e.textContent)")
        .await;
    assert_eq!(cards[0], "3 / 3", "hosts connected: {cards}");
    assert!(cards[1].as_str().unwrap().ends_with("/ 10"), "VMs: {cards}");
    let reserve = b
        .js("return [...document.querySelectorAll('[aria-labelledby=reserve-h] tbody tr')].map(r => r.cells[1].textContent)")
        .await;
    assert_eq!(
        reserve,
        serde_json::json!(["none"]),
        "one cluster, no reserve yet"
    );
    b.screenshot("dashboard").await;

    // The VM list filters to running VMs; open the first.
    b.goto(&format!("{url}/vms?state=running")).await;
    let states = b
        .js("return [...document.querySelectorAll('#rows tbody .state')].map(e => e.textContent)")
        .await;
    let states = states.as_array().unwrap();
    assert!(
        !states.is_empty() && states.iter().all(|s| s == "running"),
        "{states:?}"
    );
    b.click("#rows tbody a").await;
    b.wait_for(
        "the VM page",
        "return document.querySelector('h1')?.textContent.startsWith('VM ')",
    )
    .await;
    // Two collection rounds give a CPU rate; reload until the chart has points.
    wait_for_condition(Duration::from_secs(1), Duration::from_secs(30), || async {
        let points = b
            .wait_for(
                "the CPU chart loaded",
                "const c = document.querySelector('.chart[data-src$=\"metric=cpu\"]'); return c.dataset.points || null",
            )
            .await;
        if points.as_str().is_some_and(|p| p != "0") {
            return Some(());
        }
        b.js("location.reload()").await;
        None
    })
    .await;
    // The series is drawn: pixels of the mean's stroke colour (#0550ae) on the canvas.
    let drawn = b
        .js("const c = document.querySelector('.chart[data-src$=\"metric=cpu\"] canvas');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0;
             for (let i = 0; i < d.length; i += 4) {
               if (d[i + 3] > 0 && d[i] < 60 && d[i + 1] > 50 && d[i + 1] < 120 && d[i + 2] > 140) n++;
             }
             return n;")
        .await;
    assert!(drawn.as_u64().unwrap() > 20, "CPU line pixels: {drawn}");
    let summary = b
        .js("return document.querySelector('.chart[data-src$=\"metric=cpu\"]').parentElement.querySelector('.chart-summary').textContent")
        .await;
    assert!(
        summary.as_str().unwrap().contains("raw samples"),
        "{summary}"
    );
    b.screenshot("vm-page").await;

    // The range buttons work from the keyboard.
    b.js("document.querySelector('button.range[data-range=\"24h\"]').focus()")
        .await;
    b.press("\u{E007}").await; // Enter
    b.wait_for(
        "24h pressed",
        "return document.querySelector('button.range[data-range=\"24h\"]').getAttribute('aria-pressed') === 'true'",
    )
    .await;
    // On a fresh page the first Tab stop is the skip link.
    let here = b.js("return location.href").await;
    b.goto(here.as_str().unwrap()).await;
    b.press("\u{E004}").await; // Tab
    let first = b.js("return document.activeElement.className").await;
    assert_eq!(first, "skip");

    // Act on the VM: stop it and see the page show the new state.
    b.click("button[data-action=stop]").await;
    let toast = b
        .wait_for(
            "the action's answer",
            "return document.getElementById('toast').textContent",
        )
        .await;
    assert!(toast.as_str().unwrap().contains("accepted"), "{toast}");
    b.wait_for(
        "the VM shown shut off",
        "return document.querySelector('[data-testid=power-state]').textContent === 'shutoff'",
    )
    .await;
    let offered = b
        .js("return [...document.querySelectorAll('.actions button')].map(e => e.dataset.action)")
        .await;
    assert_eq!(
        offered,
        serde_json::json!(["start"]),
        "a shut-off VM can only start"
    );
    b.screenshot("vm-stopped").await;

    // The job is listed with its progress.
    b.goto(&format!("{url}/jobs")).await;
    let jobs = b
        .js("return [...document.querySelectorAll('#job-rows tr')].map(r => r.textContent)")
        .await;
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .any(|j| j.as_str().unwrap().contains("vm.stop")),
        "{jobs}"
    );

    // The hosts list shows the HA controller's verdict of each host (it pings every second).
    b.goto(&format!("{url}/hosts")).await;
    let ha = b
        .js("return [...document.querySelectorAll('#rows tbody tr')].map(r => r.cells[3].textContent)")
        .await;
    assert_eq!(ha, serde_json::json!(["alive", "alive", "alive"]), "{ha}");

    // Reports: sprawl and this month's chargeback per department; the CSV downloads work
    // with the browser's session.
    b.goto(&format!("{url}/reports")).await;
    let heads = b
        .js("return [...document.querySelectorAll('h2')].map(e => e.textContent)")
        .await;
    assert!(heads[0].as_str().unwrap().starts_with("Sprawl:"), "{heads}");
    assert_eq!(heads[1], "Licences", "{heads}");
    // No baselines yet: every simulated guest (whose OS its host reports) is unchecked.
    assert!(
        heads[2]
            .as_str()
            .unwrap()
            .starts_with("Patch levels: 0 behind, 0 unknown, "),
        "{heads}"
    );
    assert!(
        heads[3].as_str().unwrap().starts_with("Chargeback 20"),
        "{heads}"
    );
    let patches = b
        .js("return fetch(document.querySelector('a[download=\"patches.csv\"]').href).then(r => r.text())")
        .await;
    let patches = patches.as_str().unwrap();
    assert!(patches.starts_with("status,name,vm_id,"), "{patches}");
    assert!(patches.contains(",libosinfo\r\n"), "{patches}");
    let departments = b
        .js("return [...document.querySelectorAll('[aria-labelledby=charge-h] tbody tr')].length")
        .await;
    assert!(departments.as_u64().unwrap() >= 2, "{departments}");
    // (WebDriver waits for the promise a script returns.)
    let csv = b
        .js("return fetch(document.querySelector('a[download=\"chargeback.csv\"]').href).then(r => r.text())")
        .await;
    assert!(
        csv.as_str()
            .unwrap()
            .starts_with("month,model,department,vm,"),
        "{csv}"
    );
    b.screenshot("reports").await;

    // The dashboard links to the background work: every activity with its last run.
    b.goto(&format!("{url}/")).await;
    let summary = b
        .js("return document.querySelector('[aria-labelledby=background-h] p').textContent")
        .await;
    assert!(
        summary.as_str().unwrap().contains("activities on"),
        "{summary}"
    );
    b.js("document.getElementById('background-link').click(); return null")
        .await;
    let rows = wait_for_condition(Duration::from_millis(50), Duration::from_secs(10), || async {
        let r = b
            .js("return location.pathname == '/background' ? [...document.querySelectorAll('tbody tr')].map(r => [r.cells[0].textContent, r.cells[6].textContent]) : null")
            .await;
        (!r.is_null()).then_some(r)
    })
    .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), registered_activities(), "{rows:?}");
    let sync = rows.iter().find(|r| r[0] == "inventory-sync").unwrap();
    assert_eq!(sync[1], "ok", "{sync}");
    b.screenshot("background").await;

    // A phone-sized screen: the pages do not scroll sideways.
    b.resize(390, 844).await;
    for page in ["/", "/vms", "/hosts", "/reports", "/background"] {
        b.goto(&format!("{url}{page}")).await;
        let overflow = b
            .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{page} scrolls sideways by {overflow}"
        );
    }
    b.screenshot("narrow-hosts").await;
    b.quit().await;
}

/// HA settings from the CLI: a cluster's failover reserve set and shown with its figures, a
/// VM's restart priority and dependencies, and a bad reserve refused with one line.
#[test]
fn ha_reserve_and_restart_settings_from_the_cli() {
    let root = temp("ha");
    let (data, cfg, log) = (root.join("data"), root.join("cfg"), root.join("server.log"));
    let server = serve(&data, &log);
    login(&server, &cfg);
    let run = |args: &[&str]| vdc(&cfg, &server.url, args, &[]);
    let clusters = ok_json(run(&["cluster", "list", "-o", "json"]));
    let cluster = clusters[0]["name"].as_str().unwrap().to_string();
    // One host failure: the small simulated cluster's largest host holds more than the
    // others could take over, so that reserve is refused with the figures.
    let refused = run(&["cluster", "ha", &cluster, "--reserve", "hosts:1"]);
    let why = one_line_error(&refused);
    assert!(why.contains("leave no room for that reserve"), "{why}");
    let set = ok_json(run(&[
        "cluster",
        "ha",
        &cluster,
        "--reserve",
        "percent:10:5",
        "-o",
        "json",
    ]));
    assert_eq!(
        set["reserve"],
        serde_json::json!({"kind": "percent", "cpu": 10.0, "memory": 5.0})
    );
    let capacity = set["capacity"]["vcpus"].as_u64().unwrap();
    let reserved = set["reserved"]["vcpus"].as_u64().unwrap();
    assert_eq!(reserved, (capacity as f64 * 0.1).ceil() as u64, "{set}");
    let shown = run(&["cluster", "ha", &cluster]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("10 % of vCPUs, 5 % of memory"), "{text}");
    assert!(
        text.contains("headroom") && text.contains(&reserved.to_string()),
        "{text}"
    );
    let bad = run(&["cluster", "ha", &cluster, "--reserve", "lots"]);
    assert!(!bad.status.success());
    assert_eq!(one_line_error(&bad).lines().count(), 1);

    let vms = ok_json(run(&["vm", "list", "-o", "json"]));
    let names: Vec<&str> = vms
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let v = ok_json(run(&[
        "vm",
        "ha",
        names[0],
        "--priority",
        "high",
        "--depends-on",
        names[1],
        "-o",
        "json",
    ]));
    assert_eq!(v["priority"], "high");
    assert_eq!(v["depends_on"], serde_json::json!([vms[1]["id"]]));
    let cycle = run(&["vm", "ha", names[1], "--depends-on", names[0]]);
    assert!(!cycle.status.success());
    assert!(
        one_line_error(&cycle).contains("cycle"),
        "{}",
        one_line_error(&cycle)
    );
    // The HA controller's verdict of each host (it pings every second), in the host list.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list = run(&["host", "list"]);
        let text = String::from_utf8_lossy(&list.stdout).into_owned();
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("sim-host")).collect();
        assert!(
            text.lines()
                .any(|l| l.contains("NAME") && l.contains(" HA ")),
            "{text}"
        );
        if !rows.is_empty() && rows.iter().all(|r| r.contains(" alive ")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn reports_as_tables_json_and_csv() {
    let root = temp("reports");
    let (data, cfg, log) = (root.join("data"), root.join("cfg"), root.join("server.log"));
    let server = serve(&data, &log);
    login(&server, &cfg);
    let run = |args: &[&str]| vdc(&cfg, &server.url, args, &[]);
    let set = run(&["prices", "set", "--vcpu", "10", "--per-department", "30"]);
    assert!(set.status.success(), "{}", one_line_error(&set));
    // `vdc serve` gives its simulated VMs 35 days of history: the shut-off ones are zombies
    // (recorded 35 days ago, never seen running), the running ones have days of use judged.
    let sprawl = ok_json(run(&["report", "sprawl", "-o", "json"]));
    assert_eq!(sprawl["currency"], "EUR");
    let listed = ok_json(run(&["vm", "list", "-o", "json"]));
    let off = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["power_state"] == "shutoff")
        .count();
    let zombies = sprawl["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "zombie")
        .inspect(|f| assert!(f["evidence"].as_str().unwrap().contains("35 days"), "{f}"))
        .count();
    assert_eq!(zombies, off, "{sprawl}");
    let table = run(&["report", "sprawl", "--department", "engineering"]);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("WASTE EUR/MONTH"));
    let charge = ok_json(run(&[
        "report",
        "chargeback",
        "--model",
        "used",
        "-o",
        "json",
    ]));
    assert_eq!(charge["model"], "used");
    let vms: usize = charge["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["vms"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        vms,
        listed.as_array().unwrap().len(),
        "every VM billed once"
    );
    // The used model bills the history's vCPU-hours: less than allocated.
    let allocated = ok_json(run(&["report", "chargeback", "-o", "json"]));
    let used_vcpu: f64 = charge["statements"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["vms"].as_array().unwrap().iter())
        .flat_map(|b| b["lines"].as_array().unwrap().iter())
        .filter(|l| l["item"] == "vCPU")
        .map(|l| l["quantity"].as_f64().unwrap())
        .sum();
    assert!(used_vcpu > 0.0, "{charge}");
    assert!(
        charge["total"].as_f64().unwrap() < allocated["total"].as_f64().unwrap(),
        "used {} < allocated {}",
        charge["total"],
        allocated["total"]
    );
    let csv = run(&["report", "chargeback", "-o", "csv"]);
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(text.starts_with("month,model,department,vm,"), "{text}");
    assert!(text.contains(",department,"), "the fixed charges: {text}");
    let bad = run(&["report", "chargeback", "--month", "2026-13"]);
    assert!(
        one_line_error(&bad).contains("month"),
        "{}",
        one_line_error(&bad)
    );
    let not_a_report = run(&["vm", "list", "-o", "csv"]);
    assert!(one_line_error(&not_a_report).contains("reports"));

    // Patch levels of the simulated guests (their hosts report libosinfo ids, as virt-install
    // writes them), against baselines set here.
    for (os, v) in [("rhel", "9.4"), ("debian", "12"), ("ubuntu", "24.04")] {
        let set = run(&["os-baseline", "set", os, v]);
        assert!(set.status.success(), "{}", one_line_error(&set));
    }
    let baselines = ok_json(run(&["os-baseline", "list", "-o", "json"]));
    assert_eq!(baselines.as_array().unwrap().len(), 3, "{baselines}");
    let patches = ok_json(run(&["report", "patches", "-o", "json"]));
    let lines = patches["vms"].as_array().unwrap();
    assert_eq!(
        lines.len(),
        listed.as_array().unwrap().len(),
        "every VM once"
    );
    // libosinfo names the release a guest was installed from: an older major release is
    // behind, an older minor one may have been updated since (unknown).
    let old = ["rhel 8.10", "debian 11", "ubuntu 22.04", "ubuntu 20.04"];
    for l in lines {
        let v = format!(
            "{} {}",
            l["os"].as_str().unwrap(),
            l["version"].as_str().unwrap_or("")
        );
        let want = if old.contains(&v.as_str()) {
            "behind"
        } else if v == "rhel 9.2" {
            "unknown"
        } else if v.starts_with("winsrv") {
            "unchecked"
        } else {
            "current"
        };
        assert_eq!(l["status"], want, "{l}");
        assert_eq!(l["source"], "libosinfo", "{l}");
    }
    let behind = lines.iter().filter(|l| l["status"] == "behind").count();
    assert!(behind > 0 && patches["behind"] == behind, "{patches}");
    let table = run(&["report", "patches"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains(&format!("{behind} behind")));
    // Set by hand: kept over what the host reports.
    let set = run(&["guest-os", "set", "vm-000001", "debian", "12.8"]);
    assert!(set.status.success(), "{}", one_line_error(&set));
    run(&["sync"]);
    let csv = run(&["report", "patches", "-o", "csv"]);
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(
        text.starts_with("status,name,vm_id,department,owner,os,version,baseline"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("current,vm-000001,") && l.ends_with(",manual")),
        "{text}"
    );

    // Licences: Windows Server Datacenter by core on every host its VMs may move to.
    let set = run(&[
        "licence",
        "set",
        "windows-dc",
        "--model",
        "per_core",
        "--owned",
        "32",
        "--min-cores-per-socket",
        "8",
        "--min-cores-per-host",
        "16",
        "--guest-os",
        "winsrv",
    ]);
    assert!(set.status.success(), "{}", one_line_error(&set));
    let lic = ok_json(run(&["report", "licences", "-o", "json"]));
    let dc = &lic["products"][0];
    let windows = lines
        .iter()
        .filter(|l| l["os"].as_str().unwrap().starts_with("winsrv"))
        .count();
    assert_eq!(dc["vms"].as_array().unwrap().len(), windows, "{dc}");
    assert!(
        dc["needed"].as_u64() >= dc["needed_now"].as_u64() && dc["needed_now"].as_u64() > Some(0),
        "{dc}"
    );
    assert_eq!(
        dc["shortfall"].as_u64(),
        Some(dc["needed"].as_u64().unwrap().saturating_sub(32))
    );
    let table = run(&["report", "licences"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("SHORTFALL"));
    let bad = run(&["licence", "set", "x", "--model", "per_moon", "--owned", "1"]);
    assert!(!bad.status.success());

    // An RVTools export joins the estate the reports cover.
    let xlsx = vdc_test_utils::test_data().join("rvtools/example1.xlsx");
    let done = run(&["import", "rvtools", xlsx.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(
        said.contains("into rvtools:example1: 2 clusters, 7 hosts, 9 VMs"),
        "{said}{}",
        one_line_error(&done)
    );
    let csv = run(&["report", "sprawl", "-o", "csv"]);
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(text.contains("zombie,vm-4,"), "{text}");
    let vmx = vdc_test_utils::test_data().join("vmx-files/esx-in-the-wild-6.vmx");
    let done = run(&["import", "vmx", vmx.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ok_json(done)["vms"], 1);
    let bad = run(&["import", "rvtools", "/nonexistent.xlsx"]);
    assert!(one_line_error(&bad).contains("/nonexistent.xlsx"));
}

/// The HA bench on a small simulated fleet with short timers: the host is declared dead no
/// sooner than its silence allows, fenced, and every VM is back, none lost or twice.
#[test]
fn bench_ha_restarts_every_vm_of_killed_hosts() {
    let last = bench_json(&[
        "ha",
        "--hosts",
        "8",
        "--vms",
        "40",
        "--kills",
        "2",
        "--dead-after",
        "1s",
        "--latency",
        "5ms",
    ]);
    assert_eq!(last["vms_lost"], 0, "{last}");
    assert_eq!(last["vms_duplicated"], 0, "{last}");
    let p = |k: &str, q: &str| last[k][q].as_f64().unwrap();
    assert!(
        p("detect_s", "p50") >= 1.0,
        "not before the silence limit: {last}"
    );
    assert!(p("fence_s", "p99") >= p("detect_s", "p99") - 0.01, "{last}");
    assert!(
        p("last_vm_running_s", "p99") >= p("fence_s", "p99"),
        "{last}"
    );
    assert!(p("last_vm_running_s", "p99") < 30.0, "{last}");
}
