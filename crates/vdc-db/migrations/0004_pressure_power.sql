-- Memory pressure measured by the host sampler, for the balancer: the share of the running
-- VMs' memory the balloon took back (0..1) and the guests' swap traffic (KiB/s), at the last
-- sample.
ALTER TABLE hosts ADD COLUMN balloon_share DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN swap_kib_s DOUBLE PRECISION NOT NULL DEFAULT 0;

-- Power management per cluster: the balancer in automatic mode may put empty hosts in standby
-- (powered off) and wakes them when the cluster needs capacity.
ALTER TABLE clusters ADD COLUMN power_saving BIGINT NOT NULL DEFAULT 0;
