//! Store records to wire views: the one place that decides what a client sees of a record.

use vdc_db as db;
use vdc_types::*;

/// Encodes a keyset cursor (name, id) as an opaque page token.
pub fn page_token(name: &str, id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{name}\n{id}"))
}

/// Decodes a page token made by [`page_token`].
pub fn parse_page_token(token: &str) -> Result<(String, String), Error> {
    use base64::Engine;
    let bad = || Error::invalid("page_token", "not a token returned by this API");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (name, id) = s.split_once('\n').ok_or_else(bad)?;
    uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((name.to_string(), id.to_string()))
}

/// The token of the page after `items` when more follow; `key` gives an item's (name, id).
pub fn next_page<T>(
    items: &[T],
    more: bool,
    key: impl Fn(&T) -> (String, String),
) -> Option<String> {
    if !more {
        return None;
    }
    items.last().map(|i| {
        let (name, id) = key(i);
        page_token(&name, &id)
    })
}

/// Decodes a page token that carries only an id (newest-first lists).
pub fn parse_id_token<T: std::str::FromStr>(token: &str) -> Result<T, Error> {
    parse_page_token(token)?
        .1
        .parse()
        .map_err(|_| Error::invalid("page_token", "not a token returned by this API"))
}

pub fn user(u: &db::User, bindings: &[db::RoleBinding]) -> UserView {
    UserView {
        id: u.id,
        username: u.username.clone(),
        department_id: u.department_id,
        directory_dn: u.directory_dn.clone(),
        roles: bindings
            .iter()
            .map(|b| RoleBindingView {
                id: b.id.to_string(),
                role: b.role.clone(),
                department_id: b.department_id,
                cluster_id: b.cluster_id,
                from_group: b.from_group.clone(),
            })
            .collect(),
        created_at: rfc3339(u.created_at),
    }
}

pub fn department(d: &db::Department) -> DepartmentView {
    DepartmentView {
        id: d.id,
        name: d.name.clone(),
        cost_centre: d.cost_centre.clone(),
        created_at: rfc3339(d.created_at),
    }
}

/// A host as the API shows it, with what the HA controller makes of it.
pub fn host(h: &db::Host, ha: Option<HostHaView>) -> HostView {
    HostView {
        id: h.id,
        name: h.name.clone(),
        cluster_id: h.cluster_id,
        hypervisor: h.hypervisor,
        uri: h.uri.clone(),
        state: h.state,
        state_reason: h.state_reason.clone(),
        maintenance: h.maintenance,
        cpu_vendor: h.cpu_vendor.clone(),
        cpu_model: h.cpu_model.clone(),
        cpu_features: h.cpu_features.clone(),
        sockets: h.topology.sockets,
        cores_per_socket: h.topology.cores_per_socket,
        threads_per_core: h.topology.threads_per_core,
        memory_mib: h.memory_mib,
        numa_cells: h.numa_cells.clone(),
        last_sync_at: h.last_sync_at.map(rfc3339),
        dedicated_to: h.dedicated_to,
        licensed_software: h.licensed_software.clone(),
        licence_cost_per_vcpu: h.licence_cost_per_vcpu,
        cpu_load: h.load.as_ref().map(|l| l.cpu_load),
        vcpu_wait: h.load.as_ref().and_then(|l| l.vcpu_wait),
        balloon_share: h.load.as_ref().map(|l| l.balloon),
        swap_kib_s: h.load.as_ref().map(|l| l.swap_kib_s),
        load_sampled_at: h.load.as_ref().map(|l| rfc3339(l.sampled_at)),
        ha,
    }
}

pub fn cluster(c: &db::Cluster) -> ClusterView {
    ClusterView {
        id: c.id,
        name: c.name.clone(),
        site_id: c.site_id,
        vcpu_ratio: c.vcpu_ratio,
        memory_ratio: c.memory_ratio,
        balance_mode: c.balance_mode,
        power_saving: c.power_saving,
    }
}

pub fn vm(v: &db::Vm) -> VmView {
    VmView {
        id: v.id,
        name: v.name.clone(),
        host_id: v.host_id,
        vcpus: v.vcpus,
        memory_mib: v.memory_mib,
        disks: v
            .disks
            .iter()
            .map(|d| DiskView {
                device: d.device.clone(),
                size_gib: d.size_gib,
                datastore: d.datastore.clone(),
                format: d.format.clone(),
            })
            .collect(),
        nics: v
            .nics
            .iter()
            .map(|n| NicView {
                mac: n.mac.clone(),
                network: n.network.clone(),
            })
            .collect(),
        power_state: v.power_state,
        management: v.management,
        owner: v.owner.clone(),
        department_id: v.department_id,
        purpose: v.purpose.clone(),
        tags: v.tags.clone(),
        lease_expires_at: v.lease_expires_at.map(rfc3339),
        created_by: v.created_by.clone(),
        created_at: rfc3339(v.created_at),
        updated_at: rfc3339(v.updated_at),
        generation: v.generation,
        runtime_generation: v.runtime_gen,
    }
}

pub fn job(j: &db::Job) -> JobView {
    let total = j.steps.len().max(1) as u32;
    JobView {
        id: j.id,
        kind: j.kind.clone(),
        target_id: j.target_id.clone(),
        state: j.state,
        progress: if j.state == JobState::Succeeded {
            100
        } else {
            (j.steps_done.min(total) * 100 / total) as u8
        },
        steps: j
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| JobStepView {
                name: s.clone(),
                done: (i as u32) < j.steps_done,
            })
            .collect(),
        error: j.error.clone(),
        created_by: j.created_by.clone(),
        created_at: rfc3339(j.created_at),
        updated_at: rfc3339(j.updated_at),
    }
}

pub fn audit(a: &db::AuditRecord) -> AuditView {
    AuditView {
        id: a.id,
        at: rfc3339(a.at),
        actor: a.actor.clone(),
        action: a.action.clone(),
        target_kind: a.target_kind.clone(),
        target_id: a.target_id.clone(),
        result: a.result,
        detail: a.detail.clone(),
    }
}

pub fn physical_server(p: &db::PhysicalServer) -> PhysicalServerView {
    PhysicalServerView {
        id: p.id,
        name: p.name.clone(),
        serial: p.serial.clone(),
        cpu_model: p.cpu_model.clone(),
        sockets: p.sockets,
        cores_per_socket: p.cores_per_socket,
        memory_mib: p.memory_mib,
        site_id: p.site_id,
        department_id: p.department_id,
        owner: p.owner.clone(),
        purpose: p.purpose.clone(),
        created_at: rfc3339(p.created_at),
    }
}

pub fn vm_stats(id: VmId, state: PowerState, s: &vdc_driver::VmStats) -> VmStatsView {
    VmStatsView {
        vm_id: id,
        power_state: state,
        cpu_time_ns: s.cpu_time_ns,
        vcpu_delay_ns: s.vcpu_delay_ns.clone(),
        memory_rss_mib: s.memory_rss_mib,
        balloon_current_mib: s.balloon_current_mib,
        balloon_available_mib: s.balloon_available_mib,
        swap_in_kib: s.swap_in_kib,
        swap_out_kib: s.swap_out_kib,
        block_rd_bytes: s.block_rd_bytes,
        block_wr_bytes: s.block_wr_bytes,
        block_rd_reqs: s.block_rd_reqs,
        block_wr_reqs: s.block_wr_reqs,
        net_rx_bytes: s.net_rx_bytes,
        net_tx_bytes: s.net_tx_bytes,
        sampled_at: rfc3339(db::now_ms()),
    }
}

pub fn host_stats(id: HostId, s: &vdc_driver::HostStats) -> HostStatsView {
    HostStatsView {
        host_id: id,
        cpu_utilisation: s.cpu_utilisation,
        memory_used_mib: s.memory_used_mib,
        running_vms: s.running_vms,
        sampled_at: rfc3339(db::now_ms()),
    }
}

pub fn snapshot(s: &vdc_driver::SnapshotInfo) -> SnapshotView {
    SnapshotView {
        name: s.name.clone(),
        created_at: rfc3339(s.created_at),
        state: s.state,
    }
}

/// `role=R scope=…` for audit details.
pub fn binding_text(b: &db::RoleBinding) -> String {
    let scope = match (b.department_id, b.cluster_id) {
        (Some(d), _) => format!("department:{d}"),
        (None, Some(c)) => format!("cluster:{c}"),
        (None, None) => "global".into(),
    };
    format!("role={} scope={scope}", b.role)
}

/// Parses an id given in a path, naming the parameter in the error (400).
pub fn path_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, Error> {
    raw.parse()
        .map_err(|_| Error::invalid(field, format!("{raw:?} is not a valid id")))
}
