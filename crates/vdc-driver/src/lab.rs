//! For tests on the project's libvirt lab (`scripts/libvirt-lab.sh`: libvirtd + QEMU with a
//! tiny TCG guest, and a second libvirtd, "host 2"): run `virsh` and the lab script, find the
//! guest, kill and restart libvirtd. Test support only; nothing here links libvirt.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::KernelBoot;

/// The lab's first libvirtd.
pub const HOST1: &str = "qemu:///system";
/// Where the lab script keeps libvirtd's pid.
const LIBVIRTD_PID: &str = "/run/libvirtd.pid";

/// `scripts/libvirt-lab.sh` of this checkout: beside the running test's crate (every crate
/// is two levels down; the build may have come from another checkout sharing the target
/// directory), else beside this one.
pub fn script() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
        .join("../../scripts/libvirt-lab.sh")
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `scripts/libvirt-lab.sh ARGS…` and returns its standard output; fails loudly.
pub fn script_run(args: &[&str]) -> String {
    run(
        Command::new(script()).args(args),
        &format!("libvirt-lab.sh {args:?}"),
    )
}

/// Starts (if needed) host 2 and returns its URI.
pub fn host2_uri() -> String {
    script_run(&["host2", "start"])
        .lines()
        .last()
        .expect("libvirt-lab.sh host2 start prints the URI")
        .trim()
        .to_string()
}

/// Runs `virsh -c URI ARGS…`, as an administrator would behind vdc's back; fails loudly.
pub fn virsh(uri: &str, args: &[&str]) -> String {
    run(
        Command::new("virsh").arg("-c").arg(uri).args(args),
        &format!("virsh -c {uri} {args:?}"),
    )
}

/// Defines and starts the dir pool `name` at `dir` on the daemon at `uri`, unless it is.
pub fn ensure_pool(uri: &str, name: &str, dir: &str) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {dir}: {e}"));
    let listed = |flag: &str| -> bool {
        virsh(uri, &["pool-list", flag, "--name"])
            .lines()
            .any(|l| l.trim() == name)
    };
    if !listed("--all") {
        virsh(uri, &["pool-define-as", name, "dir", "--target", dir]);
    }
    if listed("--inactive") {
        virsh(uri, &["pool-start", name]);
    }
}

/// The folder with the lab guest (`$VDC_LAB_GUEST`, default `/var/lib/vdc-lab/guest`).
pub fn guest_dir() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("VDC_LAB_GUEST").unwrap_or_else(|_| "/var/lib/vdc-lab/guest".into()),
    );
    assert!(
        dir.join("vmlinuz").is_file(),
        "the lab guest is missing in {}: run scripts/libvirt-lab.sh up {}",
        dir.display(),
        dir.display()
    );
    dir
}

/// The lab's tiny guest: a Debian kernel and a busybox initrd that prints `VDC-GUEST-UP` on
/// ttyS0 once booted and powers off on the ACPI button.
pub fn kernel() -> KernelBoot {
    let dir = guest_dir();
    KernelBoot {
        kernel: dir.join("vmlinuz").display().to_string(),
        initrd: Some(dir.join("initrd.img").display().to_string()),
        cmdline: Some("console=ttyS0 panic=-1".into()),
    }
}

/// Whether a process with this pid exists.
pub fn pid_alive(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts libvirtd again when dropped, so a test that fails after killing it does not leave
/// the tests that follow without a daemon.
#[derive(Debug)]
pub struct RestartLibvirtd;

impl Drop for RestartLibvirtd {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("start").output();
    }
}

/// Kills the lab's first libvirtd (SIGKILL) and waits until it is gone (a killed libvirtd
/// takes a moment while its threads wind down). The guard restarts it when dropped.
pub fn kill_libvirtd() -> RestartLibvirtd {
    let pid = std::fs::read_to_string(LIBVIRTD_PID)
        .unwrap_or_else(|e| panic!("{LIBVIRTD_PID}: libvirtd started by the lab script? {e}"))
        .trim()
        .to_string();
    let guard = RestartLibvirtd;
    run(Command::new("kill").args(["-KILL", &pid]), "kill libvirtd");
    let deadline = Instant::now() + Duration::from_secs(30);
    while pid_alive(&pid) {
        assert!(Instant::now() < deadline, "libvirtd {pid} still alive");
        std::thread::sleep(Duration::from_millis(50));
    }
    guard
}

/// Starts libvirtd (no-op when it runs) and waits until it answers.
pub fn start_libvirtd() {
    script_run(&["start"]);
}
