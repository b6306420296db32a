-- Placement settings and decisions (host rating, issue 5).

-- Overcommit ratios per cluster: vCPUs per logical CPU, memory (1.0: none).
ALTER TABLE clusters ADD COLUMN vcpu_ratio DOUBLE PRECISION NOT NULL DEFAULT 4.0;
ALTER TABLE clusters ADD COLUMN memory_ratio DOUBLE PRECISION NOT NULL DEFAULT 1.0;
-- The load balancer per cluster: off, recommend (plans shown only) or automatic (migrates).
ALTER TABLE clusters ADD COLUMN balance_mode TEXT NOT NULL DEFAULT 'recommend';

-- A host may be dedicated to one department, and licensed for some software (at a cost per vCPU).
ALTER TABLE hosts ADD COLUMN dedicated_to TEXT REFERENCES departments(id);
ALTER TABLE hosts ADD COLUMN licensed_software TEXT NOT NULL DEFAULT '[]';
ALTER TABLE hosts ADD COLUMN licence_cost_per_vcpu DOUBLE PRECISION NOT NULL DEFAULT 0;

-- Measured load, from the host sampler: CPU utilisation (0..1) and vCPU wait (CPU-ready
-- share, 0..1) at the last sample, and a per-hour-of-day histogram of utilisation (JSON).
ALTER TABLE hosts ADD COLUMN cpu_load DOUBLE PRECISION;
ALTER TABLE hosts ADD COLUMN vcpu_wait DOUBLE PRECISION;
ALTER TABLE hosts ADD COLUMN load_digest TEXT;
ALTER TABLE hosts ADD COLUMN load_sampled_at BIGINT;

-- The placement constraints a VM was created with (affinity groups, licensed software, CPU)
-- and the decision taken then: chosen host, top hosts with their reasons, refusal counts.
-- Only VMs placed by vdc have one; it goes with the VM record.
CREATE TABLE vm_placements (
    vm_id TEXT PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,
    constraints TEXT NOT NULL,
    -- Set when the VM has an affinity or anti-affinity group: the host snapshots count members.
    grouped BIGINT NOT NULL DEFAULT 0,
    decided_at BIGINT NOT NULL,
    decided_by TEXT NOT NULL,
    decision TEXT NOT NULL
);
CREATE INDEX vm_placements_grouped ON vm_placements (vm_id) WHERE grouped <> 0;

-- Per cluster and day (days since 1970-01-01, UTC): the day's peak allocations and measured
-- CPU demand against the capacity under the cluster's ratios, written by the load sampler.
-- Capacity forecasts fit their trends on it.
CREATE TABLE cluster_days (
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    day BIGINT NOT NULL,
    vcpus_allocated BIGINT NOT NULL,
    vcpu_capacity BIGINT NOT NULL,
    memory_allocated_mib BIGINT NOT NULL,
    memory_capacity_mib BIGINT NOT NULL,
    -- Logical CPUs busy (sum over hosts of utilisation × logical CPUs), and logical CPUs.
    cpu_demand DOUBLE PRECISION NOT NULL,
    cpu_capacity DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (cluster_id, day)
);
