-- Reverses 006.
DROP TABLE model_pricing;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE projects;
