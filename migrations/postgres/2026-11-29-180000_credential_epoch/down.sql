DROP TRIGGER tenants_epoch_on_delete ON tenants;
DROP TRIGGER tenants_epoch_on_update ON tenants;
DROP TRIGGER credentials_epoch_on_delete ON credentials;
DROP TRIGGER credentials_epoch_on_update ON credentials;
DROP FUNCTION bump_credentials_epoch();
DROP TABLE cache_epochs;
