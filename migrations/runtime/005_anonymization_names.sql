-- Orthanc names anonymized patients "Anonymized1", "Anonymized2"…, counting across restarts
-- and across the processes sharing one database (its global AnonymizationSequence).
CREATE SEQUENCE anonymization_names;
