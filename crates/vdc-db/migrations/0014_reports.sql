-- Fixed charges of the price list (issue 10): per VM and per department, per month.
ALTER TABLE price_list ADD COLUMN vm_month DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE price_list ADD COLUMN department_month DOUBLE PRECISION NOT NULL DEFAULT 0;
