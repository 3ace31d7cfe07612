-- model_pricing becomes the SQL view of the price catalogue: rows synced from the bundled
-- genai-prices data (source 'library', rewritten by `pricing sync`) beside the users' own prices
-- (source 'user', which override the library from their effective_from), optionally for one
-- project only (a negotiated discount, which wins over both). Rates widen to unconstrained NUMERIC
-- because the library's rates carry up to 18 decimals.
ALTER TABLE model_pricing
    ADD COLUMN source VARCHAR(10) NOT NULL DEFAULT 'user',
    ADD COLUMN project_id UUID REFERENCES projects(id) ON DELETE CASCADE,
    -- Long-context tiers: [{"start": 200000, "input_mtok": 6, "output_mtok": 22.5, ...}], each
    -- applying to the whole call when its input tokens exceed start (genai-prices' semantics).
    ADD COLUMN tiers JSONB,
    -- Any other genai-prices price key in USD per its unit: {"input_audio_mtok": 40, ...}.
    ADD COLUMN other_prices JSONB,
    ADD CONSTRAINT model_pricing_source_check CHECK (source IN ('user', 'library')),
    ADD CONSTRAINT model_pricing_library_rows_are_global CHECK (source = 'user' OR project_id IS NULL),
    ALTER COLUMN input_usd_per_mtok TYPE NUMERIC,
    ALTER COLUMN output_usd_per_mtok TYPE NUMERIC,
    ALTER COLUMN cache_read_usd_per_mtok TYPE NUMERIC,
    ALTER COLUMN cache_write_usd_per_mtok TYPE NUMERIC;

-- One period start per (provider, model) globally, and per project for project overrides.
ALTER TABLE model_pricing DROP CONSTRAINT model_pricing_provider_model_effective_from_key;
CREATE UNIQUE INDEX idx_model_pricing_global_period
    ON model_pricing (provider, model, effective_from) WHERE project_id IS NULL;
CREATE UNIQUE INDEX idx_model_pricing_project_period
    ON model_pricing (project_id, provider, model, effective_from) WHERE project_id IS NOT NULL;

-- The hand-kept list 006 seeded, where nobody changed it, is library data now: the next
-- `pricing sync` replaces it with the library's rows, and it no longer overrides the library.
UPDATE model_pricing SET source = 'library' WHERE updated_at = created_at AND effective_to IS NULL;

-- A library row edited in SQL becomes the user's: the service then prices with it and
-- `pricing sync` leaves it alone. Sync itself sets observatory.pricing_sync for its transaction.
CREATE FUNCTION model_pricing_edited_row_is_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.source = 'library' AND NEW.source = 'library'
       AND coalesce(current_setting('observatory.pricing_sync', true), '') <> 'on'
       AND (NEW.provider, NEW.model, NEW.input_usd_per_mtok, NEW.output_usd_per_mtok,
            NEW.cache_read_usd_per_mtok, NEW.cache_write_usd_per_mtok, NEW.tiers, NEW.other_prices,
            NEW.effective_from, NEW.effective_to)
           IS DISTINCT FROM
           (OLD.provider, OLD.model, OLD.input_usd_per_mtok, OLD.output_usd_per_mtok,
            OLD.cache_read_usd_per_mtok, OLD.cache_write_usd_per_mtok, OLD.tiers, OLD.other_prices,
            OLD.effective_from, OLD.effective_to)
    THEN
        NEW.source := 'user';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER model_pricing_edited_row_is_users BEFORE UPDATE ON model_pricing
    FOR EACH ROW EXECUTE FUNCTION model_pricing_edited_row_is_users();
