-- What is said of a resource rather than stored in it (Resource aggregate events): its user
-- metadata, user attachments and labels, each with the revision (the aggregate's version) at
-- which it was last written, and the protected patients. Rows go with their resource.
CREATE TABLE metadata (
    resource_id text NOT NULL,
    number integer NOT NULL,
    value text NOT NULL,
    revision integer NOT NULL,
    PRIMARY KEY (resource_id, number)
);
CREATE TABLE attachments (
    resource_id text NOT NULL,
    content_type integer NOT NULL,
    uuid text NOT NULL,
    size bigint NOT NULL,
    md5 text NOT NULL,
    revision integer NOT NULL,
    PRIMARY KEY (resource_id, content_type)
);
CREATE TABLE labels (
    resource_id text NOT NULL,
    label text NOT NULL,
    PRIMARY KEY (resource_id, label)
);
CREATE INDEX labels_by_label ON labels (label, resource_id);
CREATE TABLE protected (resource_id text PRIMARY KEY);
