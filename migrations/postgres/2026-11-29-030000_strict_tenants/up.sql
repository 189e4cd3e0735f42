-- A tenant in strict mode refuses non-RFC input instead of applying the identity providers'
-- quirk rules (scim::quirks).
ALTER TABLE tenants ADD COLUMN strict BOOLEAN NOT NULL DEFAULT FALSE;
