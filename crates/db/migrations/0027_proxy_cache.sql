-- A proxy-cache project's upstream: the registry endpoint its pulls go
-- through (Harbor's `project.registry_id`); NULL for other projects.
ALTER TABLE project ADD COLUMN registry_id BIGINT
