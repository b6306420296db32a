-- What resources cost per month (one row): drives money quotas now and chargeback later.
-- Licences: JSON object of software name -> price per VM per month.
CREATE TABLE price_list (
    id BIGINT PRIMARY KEY,
    currency TEXT NOT NULL,
    vcpu_month DOUBLE PRECISION NOT NULL,
    memory_gib_month DOUBLE PRECISION NOT NULL,
    disk_gib_month DOUBLE PRECISION NOT NULL,
    licences TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO price_list (id, currency, vcpu_month, memory_gib_month, disk_gib_month, licences, updated_at)
    VALUES (1, 'EUR', 0, 0, 0, '{}', 0);

-- A department's quota; NULL limits are unlimited. Money in cents per month. Mode `enforce`
-- refuses what goes beyond limit + grace; `audit` only records it.
CREATE TABLE quotas (
    department_id TEXT PRIMARY KEY REFERENCES departments(id) ON DELETE CASCADE,
    vcpus BIGINT,
    memory_mib BIGINT,
    disk_gib BIGINT,
    vms BIGINT,
    money_cents BIGINT,
    warn_percent BIGINT NOT NULL,
    grace_percent BIGINT NOT NULL,
    mode TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
