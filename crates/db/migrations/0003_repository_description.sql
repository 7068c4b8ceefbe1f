-- Harbor repositories carry a free-text description.
ALTER TABLE repository ADD COLUMN description TEXT NOT NULL DEFAULT ''
