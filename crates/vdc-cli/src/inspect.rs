//! `vdc inspect`: offline inspection of files, no server needed.
//!
//! `vdc inspect libvirt-xml FILE…` reads libvirt domain XML documents with
//! [`vdc_driver::domxml::parse_domain_xml`] and prints one result per document: a table, or
//! with `-o json` one JSON object per line (JSON Lines), either
//! `{"file","name","type","arch","vcpus","memory_mib","disks":[…],"nics":[…]}` or
//! `{"file","error"}`. Every file is reported; the exit status is 1 when any failed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;
use vdc_driver::domxml::{DomainXml, parse_domain_xml};

use crate::Output;

/// What to inspect.
#[derive(Debug, clap::Subcommand)]
pub enum InspectCmd {
    /// Summarise libvirt domain XML files (`virsh dumpxml` output): name, type, arch,
    /// vCPUs, memory, disks, NICs.
    LibvirtXml {
        /// Files to read. A directory stands for every `*.xml` file under it (recursively,
        /// sorted by path).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs an inspect command; fails (exit status 1) when any input could not be read.
pub fn run(cmd: InspectCmd, out: Output) -> Result<()> {
    match cmd {
        InspectCmd::LibvirtXml { files } => libvirt_xml(&files, out),
    }
}

/// One input's outcome.
struct Inspected {
    file: String,
    result: std::result::Result<DomainXml, String>,
}

fn libvirt_xml(args: &[PathBuf], out: Output) -> Result<()> {
    let mut results = Vec::new();
    for arg in args {
        for input in expand(arg) {
            let (path, result) = match input {
                Ok(path) => {
                    let result = read_domain(&path);
                    (path, result)
                }
                Err((path, e)) => (path, Err(e)),
            };
            results.push(Inspected {
                file: path.display().to_string(),
                result,
            });
        }
    }

    let mut stdout = std::io::stdout().lock();
    match out {
        Output::Json => {
            for r in &results {
                let line = match &r.result {
                    Ok(d) => serde_json::to_string(&JsonDomain::new(&r.file, d))?,
                    Err(e) => serde_json::to_string(&JsonError {
                        file: &r.file,
                        error: e,
                    })?,
                };
                writeln!(stdout, "{line}")?;
            }
        }
        Output::Table => print_tables(&mut stdout, &results)?,
    }
    stdout.flush()?;

    let failed = results.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        bail!(
            "{failed} of {} file(s) could not be read as libvirt domain XML",
            results.len()
        );
    }
    Ok(())
}

type Input = std::result::Result<PathBuf, (PathBuf, String)>;

/// A file argument as is; a directory as its `*.xml` files, recursively, sorted. Symlinked
/// directories are not followed (no loops). A directory without any is one error.
fn expand(arg: &Path) -> Vec<Input> {
    if !arg.is_dir() {
        return vec![Ok(arg.to_path_buf())];
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    collect_xml(arg, &mut found, &mut errors);
    found.sort();
    let mut inputs: Vec<Input> = found.into_iter().map(Ok).collect();
    inputs.extend(errors.into_iter().map(Err));
    if inputs.is_empty() {
        inputs.push(Err((
            arg.to_path_buf(),
            "directory holds no *.xml files".to_string(),
        )));
    }
    inputs
}

fn collect_xml(dir: &Path, found: &mut Vec<PathBuf>, errors: &mut Vec<(PathBuf, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push((dir.to_path_buf(), format!("cannot read directory: {e}")));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.push((dir.to_path_buf(), format!("cannot read directory: {e}")));
                continue;
            }
        };
        let path = entry.path();
        let is_real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_real_dir {
            collect_xml(&path, found, errors);
        } else if path.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        {
            found.push(path);
        }
    }
}

fn read_domain(path: &Path) -> std::result::Result<DomainXml, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read file: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    parse_domain_xml(&text).map_err(|e| e.to_string())
}

/// The JSON line of a parsed document; field names are part of the CLI's contract.
#[derive(Serialize)]
struct JsonDomain<'a> {
    file: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    domain_type: &'a str,
    arch: Option<&'a str>,
    vcpus: u32,
    memory_mib: u64,
    disks: Vec<JsonDisk<'a>>,
    nics: Vec<JsonNic<'a>>,
}

#[derive(Serialize)]
struct JsonDisk<'a> {
    device: &'a str,
    target: Option<&'a str>,
    format: Option<&'a str>,
    source: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonNic<'a> {
    mac: Option<&'a str>,
    model: Option<&'a str>,
    source: Option<&'a str>,
}

/// The JSON line of a document that could not be read.
#[derive(Serialize)]
struct JsonError<'a> {
    file: &'a str,
    error: &'a str,
}

impl<'a> JsonDomain<'a> {
    fn new(file: &'a str, d: &'a DomainXml) -> Self {
        JsonDomain {
            file,
            name: &d.name,
            domain_type: &d.domain_type,
            arch: d.arch.as_deref(),
            vcpus: d.vcpus,
            memory_mib: d.memory_mib,
            disks: d
                .disks
                .iter()
                .map(|x| JsonDisk {
                    device: &x.device,
                    target: x.target.as_deref(),
                    format: x.format.as_deref(),
                    source: x.source.as_deref(),
                })
                .collect(),
            nics: d
                .nics
                .iter()
                .map(|n| JsonNic {
                    mac: n.mac.as_deref(),
                    model: n.model.as_deref(),
                    source: n.source.as_deref(),
                })
                .collect(),
        }
    }
}

/// One table of the documents that parsed (disks as `target(device)`, NICs as `kind:source`,
/// one per line in their cell), then one of those that did not.
fn print_tables(w: &mut impl Write, results: &[Inspected]) -> Result<()> {
    let dash = || "-".to_string();
    let mut ok = Table::new();
    ok.load_style(UTF8_BORDERS_ONLY).set_header(vec![
        "FILE", "NAME", "TYPE", "ARCH", "VCPUS", "MEMORY", "DISKS", "NICS",
    ]);
    let mut bad = Table::new();
    bad.load_style(UTF8_BORDERS_ONLY)
        .set_header(vec!["FILE", "ERROR"]);
    let (mut n_ok, mut n_bad) = (0, 0);
    for r in results {
        match &r.result {
            Ok(d) => {
                n_ok += 1;
                let disks: Vec<String> = d
                    .disks
                    .iter()
                    .map(|x| {
                        let target = x.target.clone().unwrap_or_else(dash);
                        if x.device == "disk" {
                            target
                        } else {
                            format!("{target}({})", x.device)
                        }
                    })
                    .collect();
                let nics: Vec<String> = d
                    .nics
                    .iter()
                    .map(|n| match &n.source {
                        Some(s) => format!("{}:{s}", n.kind),
                        None => n.kind.clone(),
                    })
                    .collect();
                ok.add_row(vec![
                    r.file.clone(),
                    d.name.clone(),
                    d.domain_type.clone(),
                    d.arch.clone().unwrap_or_else(dash),
                    d.vcpus.to_string(),
                    format!("{} MiB", d.memory_mib),
                    if disks.is_empty() {
                        dash()
                    } else {
                        disks.join("\n")
                    },
                    if nics.is_empty() {
                        dash()
                    } else {
                        nics.join("\n")
                    },
                ]);
            }
            Err(e) => {
                n_bad += 1;
                bad.add_row(vec![r.file.clone(), e.clone()]);
            }
        }
    }
    if n_ok > 0 {
        writeln!(w, "{ok}")?;
    }
    if n_bad > 0 {
        writeln!(w, "{bad}")?;
    }
    Ok(())
}
