-- Tokens beyond login sessions: named API tokens a user makes, optionally limited to some of
-- their permissions, listed and revoked by id; and browser sessions carried in a cookie, whose
-- CSRF token (its SHA-256) must come back in a header on every change.
ALTER TABLE api_tokens ADD COLUMN id TEXT;
ALTER TABLE api_tokens ADD COLUMN name TEXT;
-- `session` (bearer from login), `cookie` (browser session) or `api` (named token).
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'session';
-- JSON array of permission names the token is limited to; NULL: all its user's.
ALTER TABLE api_tokens ADD COLUMN permissions TEXT;
ALTER TABLE api_tokens ADD COLUMN csrf_hash TEXT;
