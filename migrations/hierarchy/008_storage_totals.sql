-- What the storage quotas (MaximumStorageSize, MaximumPatientCount: adapters/recycling.py) read
-- before an ingest when they are configured: how many patients there are and how many bytes
-- every stored file takes, DICOM files and user attachments, compressed as stored (what Orthanc
-- counts). One row, kept by the triggers below through every write of the read model (runner,
-- inline, rebuild), so that a quota check reads one row instead of summing every instance.
CREATE TABLE totals (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    patients bigint NOT NULL,
    stored_bytes bigint NOT NULL
);
INSERT INTO totals (patients, stored_bytes) SELECT
    (SELECT count(*) FROM resources WHERE level = 0),
    (SELECT coalesce(sum(coalesce(file_compressed_size, file_size)), 0) FROM resources
        WHERE level = 3)
    + (SELECT coalesce(sum(coalesce(compressed_size, size)), 0) FROM attachments);

-- The batch's rows come and go by statement (a DELETE and an INSERT per batch): one update of
-- the row per statement, from its transition table. `totals` is the schema's own, as every
-- table the projection writes: a read model is applied with the search_path set to its schema
-- (projections.read_model), a rebuilt one to the fresh schema, which is then renamed.
CREATE FUNCTION count_resources() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    patients_delta bigint := 0;
    bytes_delta bigint := 0;
    patients_part bigint;
    bytes_part bigint;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE level = 0),
               coalesce(sum(coalesce(file_compressed_size, file_size)) FILTER (WHERE level = 3), 0)
            INTO patients_part, bytes_part FROM added;
        patients_delta := patients_delta + patients_part;
        bytes_delta := bytes_delta + bytes_part;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE level = 0),
               coalesce(sum(coalesce(file_compressed_size, file_size)) FILTER (WHERE level = 3), 0)
            INTO patients_part, bytes_part FROM removed;
        patients_delta := patients_delta - patients_part;
        bytes_delta := bytes_delta - bytes_part;
    END IF;
    IF patients_delta <> 0 OR bytes_delta <> 0 THEN
        UPDATE totals SET patients = patients + patients_delta,
            stored_bytes = stored_bytes + bytes_delta;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER resources_added AFTER INSERT ON resources
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION count_resources();
CREATE TRIGGER resources_removed AFTER DELETE ON resources
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION count_resources();
CREATE TRIGGER resources_changed AFTER UPDATE ON resources
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION count_resources();

-- User attachments are rare writes (and upserts): counted row by row.
CREATE FUNCTION count_attachments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bytes_delta bigint := 0;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        bytes_delta := bytes_delta + coalesce(NEW.compressed_size, NEW.size);
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        bytes_delta := bytes_delta - coalesce(OLD.compressed_size, OLD.size);
    END IF;
    IF bytes_delta <> 0 THEN
        UPDATE totals SET stored_bytes = stored_bytes + bytes_delta;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER attachments_counted AFTER INSERT OR UPDATE OR DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION count_attachments();

-- Recycling deletes the patients stored into least recently first, unless protected.
CREATE INDEX resources_patient_recycling ON resources (last_stored_position) WHERE level = 0;
