-- Instance level: the instance's other short values (not main tags), as its event recorded
-- them, for C-FIND on attributes that are not main tags (Orthanc reads the file for those).
ALTER TABLE resources ADD COLUMN other_tags jsonb;
