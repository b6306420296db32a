-- How a VM vdc created boots when it boots from kernel files on its host rather than its first
-- disk (JSON: kernel, initrd, cmdline): a VM restarted elsewhere by HA is defined again from
-- its record, since its old host is gone.
ALTER TABLE vm_placements ADD COLUMN boot TEXT;

-- A VM restarted elsewhere by HA leaves its definition on the dead host. When that host comes
-- back, the copy it reports is not taken for the VM (which runs on its new host): it is
-- removed from the host, and the mark with it.
CREATE TABLE ha_stale_copies (
    vm_id TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
    host_id TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    since BIGINT NOT NULL,
    PRIMARY KEY (vm_id, host_id)
);
