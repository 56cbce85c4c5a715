-- Modalities and peers, as defined by configuration and REST.
CREATE TABLE remote_nodes (
    kind text NOT NULL,                 -- 'modality' or 'peer'
    name text NOT NULL,
    configuration jsonb NOT NULL,
    source text NOT NULL,               -- 'configuration' or 'rest'
    defined_position bigint NOT NULL,
    PRIMARY KEY (kind, name)
);
