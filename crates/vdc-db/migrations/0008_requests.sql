-- Provisioning requests: VMs asked for (JSON VmCreateParams), their monthly cost, approvals so
-- far (JSON) and the outcome.
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    requester TEXT NOT NULL,
    department_id TEXT REFERENCES departments(id),
    purpose TEXT NOT NULL,
    vms TEXT NOT NULL,
    cost_month DOUBLE PRECISION NOT NULL,
    currency TEXT NOT NULL,
    state TEXT NOT NULL,
    approvals TEXT NOT NULL,
    approvals_needed BIGINT NOT NULL,
    rule TEXT NOT NULL,
    reason TEXT,
    vm_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX requests_state ON requests (state, created_at);
