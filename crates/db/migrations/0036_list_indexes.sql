-- A repository's artifacts by tag name and by size, as the artifact list
-- filters (q=tags=...) and sorts (sort=size) them, without reading every
-- artifact of a large repository.
CREATE INDEX tag_name ON tag (name);
CREATE INDEX artifact_size ON artifact (repository_id, size)
