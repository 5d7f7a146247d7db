-- Prefect's Postgres database needs the trigram extension for its search indexes.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
