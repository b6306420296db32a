//! Commands the administrator configures (the power command, the fence command): run through
//! `sh -c` with the host's details in their environment, killed when they overrun.

use std::time::Duration;

/// How much of a failed command's stderr says why (its end).
const STDERR_KEPT: usize = 400;

/// Runs `cmd` with `env`, killing it after `timeout`; `Err` says why it failed — it could not
/// start, did not finish in time, or exited non-zero (with the last 400 characters of its
/// stderr). `what` names the command in those messages.
pub(crate) async fn run(
    what: &str,
    cmd: &str,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new("sh");
    child.arg("-c").arg(cmd).kill_on_drop(true);
    for (k, v) in env {
        child.env(k, v);
    }
    let out = tokio::time::timeout(timeout, child.output())
        .await
        .map_err(|_| {
            format!(
                "the {what} did not finish within {}",
                humantime::format_duration(timeout)
            )
        })?
        .map_err(|e| format!("cannot run the {what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    let cut = stderr
        .char_indices()
        .rev()
        .nth(STDERR_KEPT - 1)
        .map_or(0, |(i, _)| i);
    Err(format!(
        "the {what} failed ({}): {}",
        out.status,
        &stderr[cut..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_reports_failures_and_kills_overruns() {
        let t = Duration::from_secs(5);
        assert_eq!(
            run("hook", "test \"$X\" = yes", &[("X", "yes")], t).await,
            Ok(())
        );
        let e = run("hook", "echo 'BMC unreachable' >&2; exit 3", &[], t)
            .await
            .unwrap_err();
        assert!(
            e.starts_with("the hook failed (exit status: 3)") && e.ends_with("BMC unreachable"),
            "{e}"
        );
        let long = run(
            "hook",
            "head -c 1000 /dev/zero | tr '\\0' x >&2; exit 1",
            &[],
            t,
        )
        .await
        .unwrap_err();
        assert!(
            long.ends_with(&"x".repeat(400)) && !long.contains(&"x".repeat(401)),
            "{long}"
        );
        let started = std::time::Instant::now();
        let e = run("hook", "sleep 30", &[], Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(e, "the hook did not finish within 300ms");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
