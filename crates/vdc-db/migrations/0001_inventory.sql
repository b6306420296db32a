-- vdc schema, portable between SQLite and PostgreSQL: TEXT ids (UUID), BIGINT for every
-- integer, flag and timestamp (unix milliseconds), JSON kept as TEXT.

CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE clusters (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE departments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    cost_centre TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    name TEXT NOT NULL,
    uri TEXT NOT NULL UNIQUE,
    hypervisor TEXT NOT NULL,
    hypervisor_version TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    state_reason TEXT,
    maintenance BIGINT NOT NULL DEFAULT 0,
    cpu_vendor TEXT NOT NULL DEFAULT '',
    cpu_model TEXT NOT NULL DEFAULT '',
    cpu_features TEXT NOT NULL DEFAULT '[]',
    sockets BIGINT NOT NULL DEFAULT 0,
    cores_per_socket BIGINT NOT NULL DEFAULT 0,
    threads_per_core BIGINT NOT NULL DEFAULT 0,
    memory_mib BIGINT NOT NULL DEFAULT 0,
    numa_cells TEXT NOT NULL DEFAULT '[]',
    last_sync_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX hosts_by_name ON hosts (name, id);
CREATE INDEX hosts_by_cluster ON hosts (cluster_id, name, id);

CREATE TABLE datastores (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    capacity_gib BIGINT NOT NULL,
    free_gib BIGINT NOT NULL,
    UNIQUE (cluster_id, name)
);

CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    name TEXT NOT NULL,
    vlan BIGINT,
    UNIQUE (cluster_id, name)
);

CREATE TABLE vms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    host_id TEXT REFERENCES hosts(id),
    -- Denormalised from the host so the cluster filter uses an index.
    cluster_id TEXT REFERENCES clusters(id),
    vcpus BIGINT NOT NULL,
    memory_mib BIGINT NOT NULL,
    disks TEXT NOT NULL DEFAULT '[]',
    nics TEXT NOT NULL DEFAULT '[]',
    power_state TEXT NOT NULL,
    owner TEXT,
    department_id TEXT REFERENCES departments(id),
    purpose TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    lease_expires_at BIGINT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Bumped on every write of the row (optimistic concurrency for API edits).
    generation BIGINT NOT NULL,
    -- The driver's generation of the last applied state report; only newer ones apply.
    runtime_gen BIGINT NOT NULL
);
CREATE INDEX vms_by_name ON vms (name, id);
CREATE INDEX vms_by_host ON vms (host_id, name, id);
CREATE INDEX vms_by_cluster ON vms (cluster_id, name, id);
CREATE INDEX vms_by_department ON vms (department_id, name, id);
CREATE INDEX vms_by_owner ON vms (owner, name, id);
CREATE INDEX vms_by_state ON vms (power_state, name, id);

CREATE TABLE vm_tags (
    vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (vm_id, tag)
);
CREATE INDEX vm_tags_by_tag ON vm_tags (tag, vm_id);

CREATE TABLE physical_servers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    serial TEXT,
    cpu_model TEXT,
    sockets BIGINT NOT NULL,
    cores_per_socket BIGINT NOT NULL,
    memory_mib BIGINT NOT NULL,
    site_id TEXT REFERENCES sites(id),
    department_id TEXT REFERENCES departments(id),
    owner TEXT,
    purpose TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    department_id TEXT REFERENCES departments(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    -- SHA-256 of the bearer token, hex; the token itself is never stored.
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT,
    result TEXT NOT NULL,
    detail TEXT
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT,
    state TEXT NOT NULL,
    -- JSON: the job's input, enough to run (or resume) it without the request.
    params TEXT NOT NULL,
    -- JSON array of step names; steps_done counts the ones finished, in order.
    steps TEXT NOT NULL,
    steps_done BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_by_state ON jobs (state, id);
