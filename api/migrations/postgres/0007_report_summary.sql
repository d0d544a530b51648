-- A report's counts apart from its document, so that listing reports reads a few hundred bytes
-- per report instead of documents of up to 4 MiB.
ALTER TABLE reports ADD COLUMN summary TEXT;
UPDATE reports SET summary = (report::json -> 'summary')::text;
