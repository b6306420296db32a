-- High availability (issue 9). A VM's HA settings (a VM without a row: medium priority,
-- restarted, no dependencies), and a cluster's failover reserve (without a row: none).
CREATE TABLE vm_ha (
    vm_id TEXT PRIMARY KEY REFERENCES vms (id) ON DELETE CASCADE,
    priority TEXT NOT NULL,
    policy TEXT NOT NULL,
    -- JSON list of VM ids started before this one.
    depends_on TEXT NOT NULL
);
CREATE TABLE cluster_ha (
    cluster_id TEXT PRIMARY KEY REFERENCES clusters (id) ON DELETE CASCADE,
    -- 'none' | 'host_failures' | 'percent' | 'failover_hosts'
    kind TEXT NOT NULL,
    host_failures BIGINT NOT NULL,
    cpu_percent DOUBLE PRECISION NOT NULL,
    memory_percent DOUBLE PRECISION NOT NULL,
    -- JSON list of host ids kept empty for failover.
    failover_hosts TEXT NOT NULL
);
