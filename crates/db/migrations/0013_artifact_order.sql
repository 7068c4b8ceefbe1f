-- A repository's artifacts are listed newest first, a page at a time (the
-- API and the portal): the index gives the order, so a page of a repository
-- with many thousands of artifacts reads only its own rows.
CREATE INDEX artifact_push_order ON artifact (repository_id, push_time, id);
