//! `vdc licence`, `vdc os-baseline`, `vdc guest-os`: the licence catalogue, patch baselines and
//! what VMs run, which `vdc report licences|patches` report on.

use anyhow::Result;
use vdc_types::*;

use crate::Output;
use crate::client::Client;
use crate::commands::{print_json, resolve_vm, table};

#[derive(Debug, clap::Subcommand)]
pub enum LicenceCmd {
    /// The catalogue.
    List,
    /// Add or replace a product.
    Set {
        /// The product; VMs run it when their placement requires it, a tag names it, or their
        /// guest OS is of --guest-os.
        name: String,
        /// per_vm, per_core, per_socket, per_host (unlimited VMs per licensed host), per_user.
        #[arg(long)]
        model: LicenceModel,
        /// Licences owned, in the model's unit.
        #[arg(long)]
        owned: u64,
        /// per_user: the named users.
        #[arg(long, default_value_t = 0)]
        users: u64,
        /// per_core: fewest cores counted per socket (Microsoft: 8).
        #[arg(long, default_value_t = 0)]
        min_cores_per_socket: u32,
        /// per_core: fewest cores counted per host (Microsoft: 16).
        #[arg(long, default_value_t = 0)]
        min_cores_per_host: u32,
        /// VMs of this guest OS key or kind run it (`winsrv` covers `winsrv-2019`).
        #[arg(long)]
        guest_os: Option<String>,
    },
    /// Remove a product.
    Rm { name: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum BaselineCmd {
    /// The baselines.
    List,
    /// The lowest version VMs of an OS key should run, e.g. `rhel 9.4`, `winsrv-2019
    /// 10.0.17763.5458`.
    Set { os: String, min_version: String },
    /// Remove an OS's baseline.
    Rm { os: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum GuestOsCmd {
    /// Say what a VM runs; kept over what its host reports.
    Set {
        /// VM id or name.
        vm: String,
        /// OS key, e.g. `rhel`, `debian`, `winsrv-2019`.
        os: String,
        /// Release (Linux) or build (Windows).
        #[arg(value_name = "VERSION")]
        os_version: Option<String>,
    },
    /// Forget what was set: back to what its host says (its libosinfo id), else unknown.
    Clear { vm: String },
}

pub async fn licence(client: &Client, cmd: LicenceCmd, out: Output) -> Result<()> {
    match cmd {
        LicenceCmd::List => {
            let l: Vec<LicenceProduct> = client.get("/licences", &[]).await?;
            if out == Output::Json {
                return print_json(&l);
            }
            table(
                &[
                    "PRODUCT",
                    "MODEL",
                    "OWNED",
                    "USERS",
                    "MIN CORES",
                    "GUEST OS",
                ],
                l.iter()
                    .map(|p| {
                        vec![
                            p.name.clone(),
                            p.model.to_string(),
                            p.owned.to_string(),
                            p.users.to_string(),
                            format!(
                                "{}/socket {}/host",
                                p.min_cores_per_socket, p.min_cores_per_host
                            ),
                            p.guest_os.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
            );
        }
        LicenceCmd::Set {
            name,
            model,
            owned,
            users,
            min_cores_per_socket,
            min_cores_per_host,
            guest_os,
        } => {
            let p = LicenceProduct {
                name: name.clone(),
                model,
                owned,
                users,
                min_cores_per_socket,
                min_cores_per_host,
                guest_os,
            };
            p.validate()?;
            let p: LicenceProduct = client.put(&format!("/licences/{name}"), &p).await?;
            if out == Output::Json {
                return print_json(&p);
            }
            println!("licence {} set: {} owned, {}", p.name, p.owned, p.model);
        }
        LicenceCmd::Rm { name } => {
            validate_name("name", &name)?;
            let _: serde_json::Value = client.delete(&format!("/licences/{name}")).await?;
            println!("licence {name} removed");
        }
    }
    Ok(())
}

pub async fn baseline(client: &Client, cmd: BaselineCmd, out: Output) -> Result<()> {
    match cmd {
        BaselineCmd::List => {
            let l: Vec<OsBaseline> = client.get("/os-baselines", &[]).await?;
            if out == Output::Json {
                return print_json(&l);
            }
            table(
                &["OS", "MIN VERSION"],
                l.iter()
                    .map(|b| vec![b.os.clone(), b.min_version.clone()])
                    .collect(),
            );
        }
        BaselineCmd::Set { os, min_version } => {
            let b = OsBaseline {
                os: os.clone(),
                min_version,
            };
            b.validate()?;
            let b: OsBaseline = client.put(&format!("/os-baselines/{os}"), &b).await?;
            if out == Output::Json {
                return print_json(&b);
            }
            println!("baseline of {}: {}", b.os, b.min_version);
        }
        BaselineCmd::Rm { os } => {
            validate_name("os", &os)?;
            let _: serde_json::Value = client.delete(&format!("/os-baselines/{os}")).await?;
            println!("baseline of {os} removed");
        }
    }
    Ok(())
}

pub async fn guest_os(client: &Client, cmd: GuestOsCmd, out: Output) -> Result<()> {
    match cmd {
        GuestOsCmd::Set { vm, os, os_version } => {
            let id = resolve_vm(client, &vm).await?;
            let g: GuestOs = client
                .put(
                    &format!("/vms/{id}/guest-os"),
                    &GuestOsParams {
                        os,
                        version: os_version,
                        name: None,
                    },
                )
                .await?;
            if out == Output::Json {
                return print_json(&g);
            }
            println!("{vm} runs {}", g.name);
        }
        GuestOsCmd::Clear { vm } => {
            let id = resolve_vm(client, &vm).await?;
            let _: serde_json::Value = client.delete(&format!("/vms/{id}/guest-os")).await?;
            println!("{vm}: guest OS forgotten");
        }
    }
    Ok(())
}
