-- Series level: how many instances the series expects, from the tags of its first instance
-- (Orthanc's ExpectedNumberOfInstances metadata); NULL when they do not say.
ALTER TABLE resources ADD COLUMN expected_instances integer;
