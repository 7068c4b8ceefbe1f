-- Settings changed through /api/v2.0/configurations (Harbor's `properties`).
CREATE TABLE properties (
    k VARCHAR(64) PRIMARY KEY,
    v TEXT NOT NULL
)
