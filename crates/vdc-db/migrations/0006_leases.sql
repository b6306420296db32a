-- The lease controller's marks on a VM: when its owner was warned of the expiry, and when the
-- controller handled the expiry (powered it off). Setting a new lease clears both.
ALTER TABLE vms ADD COLUMN lease_warned_at BIGINT;
ALTER TABLE vms ADD COLUMN lease_expired_at BIGINT;
CREATE INDEX vms_lease ON vms (lease_expires_at);
