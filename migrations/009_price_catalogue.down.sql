-- Reverses 009. Project overrides cannot be expressed without project_id and are removed; the
-- rates return to NUMERIC(14, 6) (rounded); library rows stay as ordinary prices.
DROP TRIGGER model_pricing_edited_row_is_users ON model_pricing;
DROP FUNCTION model_pricing_edited_row_is_users();
DELETE FROM model_pricing WHERE project_id IS NOT NULL;
DROP INDEX idx_model_pricing_project_period;
DROP INDEX idx_model_pricing_global_period;
ALTER TABLE model_pricing
    ADD CONSTRAINT model_pricing_provider_model_effective_from_key UNIQUE (provider, model, effective_from);
ALTER TABLE model_pricing
    DROP CONSTRAINT model_pricing_library_rows_are_global,
    DROP CONSTRAINT model_pricing_source_check,
    DROP COLUMN other_prices,
    DROP COLUMN tiers,
    DROP COLUMN project_id,
    DROP COLUMN source,
    ALTER COLUMN input_usd_per_mtok TYPE NUMERIC(14, 6),
    ALTER COLUMN output_usd_per_mtok TYPE NUMERIC(14, 6),
    ALTER COLUMN cache_read_usd_per_mtok TYPE NUMERIC(14, 6),
    ALTER COLUMN cache_write_usd_per_mtok TYPE NUMERIC(14, 6);
