-- Projects, users, API keys and model pricing.

CREATE TABLE projects (
    id UUID NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Rows ingested without authentication belong to this project (the column default in 001).
INSERT INTO projects (id, name) VALUES ('00000000-0000-0000-0000-000000000000', 'default');

CREATE TABLE users (
    id UUID NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
    email VARCHAR(320) NOT NULL UNIQUE,
    display_name VARCHAR(255),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE api_keys (
    id UUID NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    name VARCHAR(255),
    -- The first characters of the key, shown in listings and used to find the row.
    key_prefix VARCHAR(32) NOT NULL UNIQUE,
    -- SHA-256 of the whole key; the key itself is never stored.
    key_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX idx_api_keys_project_id ON api_keys (project_id);

-- USD per million tokens. `model` is an exact model name, or a prefix that dated or suffixed
-- versions fall back to (gpt-4o-2024-08-06 -> gpt-4o): exact match first, then longest prefix.
CREATE TABLE model_pricing (
    id UUID NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
    provider VARCHAR(100) NOT NULL,
    model VARCHAR(255) NOT NULL,
    input_usd_per_mtok NUMERIC(14, 6) NOT NULL,
    output_usd_per_mtok NUMERIC(14, 6) NOT NULL,
    cache_read_usd_per_mtok NUMERIC(14, 6),
    cache_write_usd_per_mtok NUMERIC(14, 6),
    effective_from TIMESTAMPTZ NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    effective_to TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (provider, model, effective_from),
    CHECK (effective_to IS NULL OR effective_to > effective_from)
);
CREATE INDEX idx_model_pricing_lookup ON model_pricing (provider, model, effective_from DESC);

-- Published list prices (standard tier, shortest context band) when this migration was written.
INSERT INTO model_pricing
    (provider, model, input_usd_per_mtok, output_usd_per_mtok, cache_read_usd_per_mtok, cache_write_usd_per_mtok)
VALUES
    ('openai', 'gpt-5', 1.25, 10.00, 0.125, NULL),
    ('openai', 'gpt-5-mini', 0.25, 2.00, 0.025, NULL),
    ('openai', 'gpt-5-nano', 0.05, 0.40, 0.005, NULL),
    ('openai', 'gpt-4.1', 2.00, 8.00, 0.50, NULL),
    ('openai', 'gpt-4.1-mini', 0.40, 1.60, 0.10, NULL),
    ('openai', 'gpt-4.1-nano', 0.10, 0.40, 0.025, NULL),
    ('openai', 'gpt-4o', 2.50, 10.00, 1.25, NULL),
    ('openai', 'gpt-4o-mini', 0.15, 0.60, 0.075, NULL),
    ('openai', 'o1', 15.00, 60.00, 7.50, NULL),
    ('openai', 'o3', 2.00, 8.00, 0.50, NULL),
    ('openai', 'o3-mini', 1.10, 4.40, 0.55, NULL),
    ('openai', 'o4-mini', 1.10, 4.40, 0.275, NULL),
    ('openai', 'text-embedding-3-small', 0.02, 0.00, NULL, NULL),
    ('openai', 'text-embedding-3-large', 0.13, 0.00, NULL, NULL),
    ('anthropic', 'claude-opus-4-5', 5.00, 25.00, 0.50, 6.25),
    ('anthropic', 'claude-opus-4-1', 15.00, 75.00, 1.50, 18.75),
    ('anthropic', 'claude-opus-4', 15.00, 75.00, 1.50, 18.75),
    ('anthropic', 'claude-sonnet-4-5', 3.00, 15.00, 0.30, 3.75),
    ('anthropic', 'claude-sonnet-4', 3.00, 15.00, 0.30, 3.75),
    ('anthropic', 'claude-3-7-sonnet', 3.00, 15.00, 0.30, 3.75),
    ('anthropic', 'claude-haiku-4-5', 1.00, 5.00, 0.10, 1.25),
    ('anthropic', 'claude-3-5-haiku', 0.80, 4.00, 0.08, 1.00),
    ('google', 'gemini-2.5-pro', 1.25, 10.00, 0.125, NULL),
    ('google', 'gemini-2.5-flash', 0.30, 2.50, 0.03, NULL),
    ('google', 'gemini-2.5-flash-lite', 0.10, 0.40, 0.01, NULL),
    ('google', 'gemini-2.0-flash', 0.10, 0.40, 0.025, NULL),
    ('mistral', 'mistral-large', 2.00, 6.00, NULL, NULL),
    ('mistral', 'mistral-medium', 0.40, 2.00, NULL, NULL),
    ('mistral', 'mistral-small', 0.10, 0.30, NULL, NULL),
    ('mistral', 'codestral', 0.30, 0.90, NULL, NULL),
    ('meta', 'llama-4-maverick', 0.27, 0.85, NULL, NULL),
    ('meta', 'llama-4-scout', 0.18, 0.59, NULL, NULL),
    ('meta', 'llama-3.3-70b', 0.88, 0.88, NULL, NULL),
    ('meta', 'llama-3.1-8b', 0.18, 0.18, NULL, NULL);
