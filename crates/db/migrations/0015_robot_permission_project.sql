-- A robot's project permissions name their project by id, as Harbor stores
-- `/project/<id>`: a grant ends with its project and never passes to a new
-- project that takes a deleted one's name.
ALTER TABLE robot_permission ADD COLUMN project_id BIGINT REFERENCES project (project_id) ON DELETE CASCADE;
UPDATE robot_permission SET project_id =
    (SELECT p.project_id FROM project p WHERE p.name = robot_permission.namespace)
    WHERE kind = 'project' AND namespace <> '*';
-- Grants whose project is gone, or is a project created after the grant was
-- last written (a new project under an old name), are dropped.
DELETE FROM robot_permission WHERE kind = 'project' AND namespace <> '*' AND (project_id IS NULL
    OR (SELECT p.creation_time FROM project p WHERE p.project_id = robot_permission.project_id)
       > (SELECT r.update_time FROM robot r WHERE r.id = robot_permission.robot_id));
CREATE INDEX robot_permission_project ON robot_permission (project_id);
