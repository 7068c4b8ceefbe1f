-- What Harbor's artifact processors say of an artifact, worked out once at
-- push: its type (IMAGE, CHART …), its media type (the config's, or an
-- index's own) and the attributes read from its config (JSON). NULL for
-- artifacts pushed before, which are described when read.
ALTER TABLE artifact ADD COLUMN harbor_type TEXT;
ALTER TABLE artifact ADD COLUMN harbor_media_type TEXT;
ALTER TABLE artifact ADD COLUMN extra_attrs TEXT;
-- The last pull of each tag (an artifact's pull_time is the last of all).
ALTER TABLE tag ADD COLUMN pull_time BIGINT;
