DROP TRIGGER tenants_epoch_on_delete;
DROP TRIGGER tenants_epoch_on_update;
DROP TRIGGER credentials_epoch_on_delete;
DROP TRIGGER credentials_epoch_on_update;
DROP TABLE cache_epochs;
