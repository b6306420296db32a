//! The HTTP client the CLI commands share: server address and token resolution, saved
//! credentials, one-line errors from the API's error body, and waiting on jobs with a
//! progress bar.

use anyhow::{Context, Result, anyhow, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use vdc_types::{ErrorBody, JobState, JobView};

/// Where `vdc login` keeps the session: `$VDC_CONFIG_DIR` or `~/.config/vdc`.
pub fn config_dir() -> PathBuf {
    std::env::var_os("VDC_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            home.join(".config").join("vdc")
        })
}

/// A saved session.
#[derive(Debug, Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub token: String,
}

impl Credentials {
    fn path() -> PathBuf {
        config_dir().join("credentials.json")
    }

    /// The saved session, if any.
    pub fn load() -> Option<Credentials> {
        let s = std::fs::read_to_string(Self::path()).ok()?;
        serde_json::from_str(&s).ok()
    }

    /// Saves the session readable by the owner only.
    pub fn save(&self) -> Result<PathBuf> {
        let path = Self::path();
        let dir = path.parent().expect("credentials path has a parent");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            #[cfg(unix)]
            use std::os::unix::fs::OpenOptionsExt;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            opts.mode(0o600);
            let mut f = opts
                .open(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            f.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

/// An API client.
#[derive(Debug, Clone)]
pub struct Client {
    pub base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for `server` (or the saved one, or the default) with `token` (or the saved one).
    pub fn new(server: Option<String>, token: Option<String>) -> Result<Client> {
        let saved = Credentials::load();
        let base = server
            .or_else(|| saved.as_ref().map(|c| c.server.clone()))
            .unwrap_or_else(|| "http://127.0.0.1:8080".into())
            .trim_end_matches('/')
            .to_string();
        let token = token.or_else(|| {
            saved
                .filter(|c| c.server.trim_end_matches('/') == base)
                .map(|c| c.token)
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Client { base, token, http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let bytes = self.send_raw(req).await?;
        let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(body).context("unexpected response from the server")
    }

    /// The body of a successful answer; the server's one-line message otherwise.
    async fn send_raw(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach vdc at {}: {}", self.base, root_cause(&e)))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
                bail!("{msg} (run `vdc login` first)");
            }
            bail!("{msg}");
        }
        Ok(bytes.to_vec())
    }

    /// A GET whose answer is text (an export), as it comes.
    pub async fn get_text(&self, path: &str, query: &[(&str, String)]) -> Result<String> {
        let bytes = self
            .send_raw(self.http.get(self.url(path)).query(query))
            .await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    /// POSTs a JSON body with query parameters.
    pub async fn post_query<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &B,
    ) -> Result<T> {
        self.send(self.http.post(self.url(path)).query(query).json(body))
            .await
    }

    /// POSTs a file's bytes with a content type.
    pub async fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T> {
        self.send(
            self.http
                .post(self.url(path))
                .query(query)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    pub async fn post<T: DeserializeOwned, B: Serialize>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn patch<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send(self.http.patch(self.url(path)).json(body)).await
    }

    pub async fn put<T: DeserializeOwned, B: Serialize>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.http.put(self.url(path)).json(body)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.http.delete(self.url(path))).await
    }

    /// Polls a job until it ends, showing its progress (unless `quiet`); fails when the job did.
    pub async fn wait_job(&self, job: &JobView, quiet: bool) -> Result<JobView> {
        let bar = if quiet {
            indicatif::ProgressBar::hidden()
        } else {
            let b = indicatif::ProgressBar::new(100);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:30}] {pos:>3}% {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(job.kind.clone());
            b
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(600);
        loop {
            let j: JobView = self.get(&format!("/jobs/{}", job.id), &[]).await?;
            bar.set_position(u64::from(j.progress));
            if let Some(step) = j.steps.iter().find(|s| !s.done) {
                bar.set_message(step.name.clone());
            }
            match j.state {
                JobState::Succeeded => {
                    bar.finish_with_message("done");
                    return Ok(j);
                }
                JobState::Failed => {
                    bar.abandon_with_message("failed");
                    bail!("job {} failed: {}", j.id, j.error.unwrap_or_default());
                }
                JobState::Queued | JobState::Running => {}
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "job {} still {} after 10 minutes; check `vdc job show {}`",
                    j.id,
                    j.state,
                    j.id
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
