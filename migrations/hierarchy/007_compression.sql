-- How an instance's DICOM file and a user attachment are stored: NULL compression for the
-- data as it is, else the scheme ("ZlibWithSize") with the size and MD5 of the stored bytes
-- (Orthanc's CompressedSize and CompressedMD5; file_size/size and file_md5/md5 stay the
-- data's). Rows written before this migration are uncompressed: compression did not exist.
ALTER TABLE resources
    ADD COLUMN file_compression text,
    ADD COLUMN file_compressed_size bigint,
    ADD COLUMN file_compressed_md5 text;
ALTER TABLE attachments
    ADD COLUMN compression text,
    ADD COLUMN compressed_size bigint,
    ADD COLUMN compressed_md5 text;
