//! Host power management (like vSphere DPM): a host that runs no VM can be put in standby
//! (powered off out of band) and woken when its cluster needs capacity. An admin does it by
//! hand; the balancer does it in clusters with power saving on and the balancer automatic,
//! from the engine's `balance::power_plan`. Power goes through the configured power command
//! (say, a script driving the host's BMC), else through the host's driver. A host in standby is
//! neither synced nor sampled nor offered to placement; waking it marks it unreachable until
//! the next sync reaches it.

use std::time::Duration;
use vdc_db as db;
use vdc_types::*;

use crate::app::Actor;
use crate::app::App;
use crate::app::fleet::blocking;
use crate::app::hooks;

/// How long the power command may take.
const POWER_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a woken host is unreachable until a sync reaches it.
const WAKING: &str = "waking from standby";

fn unavailable(message: String) -> Error {
    Error::Unavailable { message }
}

impl App {
    /// Powers a host on or off through the power command or its driver; `Err` says why not.
    async fn switch_power(&self, host: &db::Host, on: bool) -> Result<(), Error> {
        let Some(cmd) = self.config.power_command.clone() else {
            let driver = self.fleet.driver(&host.uri)?;
            return blocking(move || driver.set_power(on)).await;
        };
        let action = if on { "on" } else { "off" };
        let env = [
            ("VDC_POWER_ACTION", action),
            ("VDC_HOST_NAME", host.name.as_str()),
            ("VDC_HOST_URI", host.uri.as_str()),
        ];
        hooks::run("power command", &cmd, &env, POWER_COMMAND_TIMEOUT)
            .await
            .map_err(unavailable)
    }

    /// Puts an empty, connected host in standby, or wakes a host in standby, recording who
    /// did it and why. Refuses to power off a host that runs VMs.
    pub(crate) async fn set_standby(
        &self,
        actor: &str,
        host: &db::Host,
        standby: bool,
        reason: &str,
    ) -> Result<db::Host, Error> {
        let action = if standby { "host.standby" } else { "host.wake" };
        let target = ("host", Some(host.id.to_string()));
        if standby {
            if host.state != HostState::Connected {
                return Err(Error::conflict(format!(
                    "{} is {}: only a connected host can go to standby",
                    host.name, host.state
                )));
            }
            let running = self.running_vm_names(host.id).await?;
            if !running.is_empty() {
                return Err(Error::conflict(format!(
                    "{} runs {} VMs ({}); evacuate it first",
                    host.name,
                    running.len(),
                    running.join(", ")
                )));
            }
        } else if host.state != HostState::Standby {
            return Err(Error::conflict(format!(
                "{} is {}, not in standby",
                host.name, host.state
            )));
        }
        if let Err(e) = self.switch_power(host, !standby).await {
            self.audit(
                actor,
                action,
                target,
                AuditResult::Failed,
                Some(e.to_string()),
            )
            .await;
            return Err(e);
        }
        let (state, why) = if standby {
            (HostState::Standby, reason.to_string())
        } else {
            (HostState::Unreachable, WAKING.to_string())
        };
        self.db.set_host_state(host.id, state, Some(&why)).await?;
        self.audit(
            actor,
            action,
            target,
            AuditResult::Ok,
            Some(format!("name={} {reason}", host.name)),
        )
        .await;
        Ok(self.db.get_host(host.id).await?)
    }

    /// Names of the VMs running or paused on a host, by the inventory.
    async fn running_vm_names(&self, host: HostId) -> Result<Vec<String>, Error> {
        let (vms, _) = self
            .db
            .list_vms(&db::VmFilter {
                host_id: Some(host),
                limit: 1000,
                ..db::VmFilter::default()
            })
            .await?;
        Ok(vms
            .into_iter()
            .filter(|v| vdc_driver::state::consumes_resources(v.power_state))
            .map(|v| v.name)
            .collect())
    }

    /// Puts a host in standby (admin): it must be connected and run no VM.
    pub async fn standby_host(&self, actor: &Actor, id: HostId) -> Result<HostView, Error> {
        self.power_by_admin(actor, id, true).await
    }

    /// Wakes a host from standby (admin).
    pub async fn wake_host(&self, actor: &Actor, id: HostId) -> Result<HostView, Error> {
        self.power_by_admin(actor, id, false).await
    }

    async fn power_by_admin(
        &self,
        actor: &Actor,
        id: HostId,
        standby: bool,
    ) -> Result<HostView, Error> {
        let action = if standby { "host.standby" } else { "host.wake" };
        let host = self.authorize_host(actor, action, id).await?;
        let reason = format!("by {}", actor.name());
        let host = self
            .set_standby(actor.name(), &host, standby, &reason)
            .await?;
        Ok(self.host_view(&host))
    }
}
