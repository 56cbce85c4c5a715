-- /tools/find ignores case by default on every attribute, as Orthanc's does: PatientID and
-- AccessionNumber are indexed upper-cased (as PatientName), and a case-sensitive match uses the
-- same index (upper(value) = upper(query) AND value = query), so ingest maintains no more
-- indexes than before.
DROP INDEX resources_patient_id_tag;
CREATE INDEX resources_patient_id_tag
    ON resources (upper(main_tags->>'PatientID') text_pattern_ops) WHERE level = 0;
DROP INDEX resources_accession_tag;
CREATE INDEX resources_accession_tag
    ON resources (upper(main_tags->>'AccessionNumber') text_pattern_ops) WHERE level = 1;
