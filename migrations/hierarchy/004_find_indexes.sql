-- What C-FIND (and /tools/find later) filters on most, so that a query costs the same on a
-- large archive as on a small one: the identifiers and names compared exactly or by prefix
-- (text_pattern_ops: LIKE 'DOE%' in any collation; PN is compared upper-cased), the study
-- date, and the lineage columns (a study-level query joins its patient).
CREATE INDEX resources_patient_id_tag ON resources ((main_tags->>'PatientID') text_pattern_ops)
    WHERE level = 0;
CREATE INDEX resources_patient_name_tag
    ON resources (upper(main_tags->>'PatientName') text_pattern_ops) WHERE level = 0;
CREATE INDEX resources_study_uid_tag ON resources ((main_tags->>'StudyInstanceUID'))
    WHERE level = 1;
CREATE INDEX resources_accession_tag ON resources ((main_tags->>'AccessionNumber') text_pattern_ops)
    WHERE level = 1;
CREATE INDEX resources_study_date_tag ON resources ((main_tags->>'StudyDate')) WHERE level = 1;
CREATE INDEX resources_series_uid_tag ON resources ((main_tags->>'SeriesInstanceUID'))
    WHERE level = 2;
CREATE INDEX resources_sop_uid_tag ON resources ((main_tags->>'SOPInstanceUID'))
    WHERE level = 3;
-- Studies and series by their patient, series by their study (instances have theirs, in 001):
-- partial, so that an upload, which rewrites its parents' rows, maintains few of them.
CREATE INDEX resources_study_patient ON resources (patient_id) WHERE level = 1;
CREATE INDEX resources_series_patient ON resources (patient_id) WHERE level = 2;
CREATE INDEX resources_series_study ON resources (study_id) WHERE level = 2;
