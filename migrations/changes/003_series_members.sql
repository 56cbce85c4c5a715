-- Each live instance's series and IndexInSeries (as written), to tell when a store completes
-- its series (Orthanc's CompletedSeries change).
CREATE TABLE series_members (
    instance_id text PRIMARY KEY,
    series_id text NOT NULL,
    index_in_series text
);
CREATE INDEX series_members_series ON series_members (series_id);
