"""Storage commitment reports (Orthanc's /storage-commitment/{id}), from their events."""
