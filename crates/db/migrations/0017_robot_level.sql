-- The system robots page lists robots by level.
CREATE INDEX robot_level ON robot (level, id);
