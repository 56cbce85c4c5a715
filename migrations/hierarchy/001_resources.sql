-- Patients, studies, series and instances, with Orthanc's main DICOM tags per level.
CREATE TABLE resources (
    id text PRIMARY KEY,
    level smallint NOT NULL,               -- 0 patient, 1 study, 2 series, 3 instance
    parent_id text,
    patient_id text NOT NULL,
    study_id text,
    series_id text,
    created_position bigint NOT NULL,      -- log position that created it: list order
    main_tags jsonb NOT NULL,
    patient_main_tags jsonb,               -- study level: the patient tags of its first instance
    last_update timestamptz NOT NULL,
    last_stored_position bigint NOT NULL,  -- log position of the last instance stored under it
    is_stable boolean NOT NULL DEFAULT false,
    instances_count integer NOT NULL DEFAULT 0,
    -- instance level only
    file_uuid text,
    file_size bigint,
    file_md5 text,
    transfer_syntax text,
    sop_class_uid text,
    index_in_series integer,
    index_in_series_text text,             -- as written in the file ("000013")
    pixel_data_offset bigint,
    received_at timestamptz,
    origin jsonb
);
CREATE INDEX resources_level_order ON resources (level, created_position);
CREATE INDEX resources_parent ON resources (parent_id, created_position);
CREATE INDEX resources_patient ON resources (patient_id) WHERE level = 3;
CREATE INDEX resources_study ON resources (study_id) WHERE level = 3;
CREATE INDEX resources_series ON resources (series_id) WHERE level = 3;
CREATE INDEX resources_unstable ON resources (last_update) WHERE level < 3 AND NOT is_stable;
