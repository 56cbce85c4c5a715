-- Where a resource a modify or anonymize job made comes from: {"ModifiedFrom": source ID} or
-- {"AnonymizedFrom": source ID} (Orthanc's metadata of those names). NULL for resources
-- received from outside, which every row written before this migration is.
ALTER TABLE resources ADD COLUMN derived_from jsonb;
