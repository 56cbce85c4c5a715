-- Orthanc's /changes forgets the changes of a resource once it is deleted. They stay here,
-- marked: `removed` is true for every change of a resource up to (and including) its removal.
ALTER TABLE changes ADD COLUMN removed boolean NOT NULL DEFAULT false;
CREATE INDEX changes_resource ON changes (resource_id);
UPDATE changes c SET removed = true
WHERE EXISTS (
    SELECT 1 FROM changes d
    WHERE d.resource_id = c.resource_id AND d.change_type = 'Deleted' AND d.seq >= c.seq
);
