-- Which reports are gating evidence (rule 4): automatic ones whose both sides were read where
-- the clusters' templates say. On-demand diffs (any run id, any allowed location) and diffs of
-- locations named by events are not.
ALTER TABLE reports ADD COLUMN evidence BIGINT NOT NULL DEFAULT 1;
UPDATE reports SET evidence = 0 WHERE pair_id IS NULL;
