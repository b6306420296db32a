-- Rogue-VM detection (a VM found on a hypervisor that vdc did not create is `unmanaged`
-- until an admin adopts or quarantines it) and the libvirt domain type of added hosts.

ALTER TABLE vms ADD COLUMN management TEXT NOT NULL DEFAULT 'managed';
-- Partial: most VMs are managed, and their inserts then skip this index. Queries for the
-- others repeat the index's condition so both SQLite and PostgreSQL can use it.
CREATE INDEX vms_not_managed ON vms (management, name, id) WHERE management <> 'managed';

-- `kvm` or `qemu` (TCG) for domains vdc defines on a libvirt host; NULL for other drivers.
ALTER TABLE hosts ADD COLUMN domain_type TEXT;

-- Volumes (disk images) in each datastore, as the hosts list them.
CREATE TABLE volumes (
    id TEXT PRIMARY KEY,
    datastore_id TEXT NOT NULL REFERENCES datastores(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    capacity_mib BIGINT NOT NULL,
    allocation_mib BIGINT NOT NULL,
    UNIQUE (datastore_id, name)
);
