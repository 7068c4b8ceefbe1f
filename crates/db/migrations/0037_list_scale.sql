-- A repository is listed from its first artifact until it is deleted, as in
-- Harbor (where deleting every artifact leaves the repository, with none).
-- A row made by a blob upload alone stays unlisted. The flag replaces a
-- probe of the artifact table per repository, which made counting a
-- project of 100,000 repositories take 100,000 lookups.
ALTER TABLE repository ADD COLUMN listed BIGINT NOT NULL DEFAULT 0;
UPDATE repository SET listed = 1 WHERE EXISTS (SELECT 1 FROM artifact a WHERE a.repository_id = repository.id);
DROP INDEX repository_project;
CREATE INDEX repository_project ON repository (project_name, listed, name);

-- Tag filters of artifact lists now read the listed repositories' tags off
-- tag (repository_id, name); the registry-wide name index (0036) is unused.
DROP INDEX tag_name
