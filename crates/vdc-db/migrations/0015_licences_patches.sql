-- Guest OS per VM (issue 10): from libosinfo metadata, imports, or set by hand (kept then).
-- os_id: the last libosinfo id known for the VM (given at creation or reported by its host),
-- kept under a value set by hand, to define the VM with it again elsewhere.
CREATE TABLE vm_guest_os (
    vm_id TEXT PRIMARY KEY,
    os TEXT NOT NULL,
    version TEXT,
    name TEXT NOT NULL,
    kernel TEXT,
    source TEXT NOT NULL,
    os_id TEXT,
    updated_at BIGINT NOT NULL
);

-- Patch baselines: the lowest version each OS key should run.
CREATE TABLE os_baselines (
    os TEXT PRIMARY KEY,
    min_version TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The licence catalogue: products, how they are counted, how many are owned, and which VMs
-- run them (by required software, tag, or guest OS key).
CREATE TABLE licence_products (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    owned BIGINT NOT NULL,
    users BIGINT NOT NULL DEFAULT 0,
    min_cores_per_socket BIGINT NOT NULL DEFAULT 0,
    min_cores_per_host BIGINT NOT NULL DEFAULT 0,
    guest_os TEXT,
    updated_at BIGINT NOT NULL
);
