-- How many instances of a function ran at once in each minute (the most
-- sampled), for the instances chart: functions scale between
-- instances.min and instances.max, down to zero.
ALTER TABLE metric_minutes ADD COLUMN instances_max INTEGER NOT NULL DEFAULT 0;
